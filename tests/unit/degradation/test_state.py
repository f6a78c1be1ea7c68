"""The pure rules: highest match wins, hysteresis, and an override's expiry."""

from __future__ import annotations

from dataclasses import replace

from reliability.degradation.conditions import Reading, condition_parse
from reliability.degradation.config import Rule
from reliability.degradation.levels import DegradationLevel
from reliability.degradation.state import AUTO, OPERATOR, LevelState, auto_step, rules_level

RULES = [
    Rule(condition_parse("breaker_open:deepseek"), DegradationLevel.MINOR),
    Rule(condition_parse("breaker_open:green_api"), DegradationLevel.MODERATE),
    Rule(condition_parse("redis_down"), DegradationLevel.SEVERE),
    Rule(condition_parse("database_read_only"), DegradationLevel.CRITICAL),
]


def test_the_highest_level_whose_condition_holds_wins():
    readings = {
        "breaker_open:deepseek": Reading(True),
        "redis_down": Reading(True),
        "database_read_only": Reading(False),
    }
    assert rules_level(RULES, readings) == (DegradationLevel.SEVERE, ["redis_down"])


def test_no_condition_holding_is_normal_and_unreadable_ones_do_not_count():
    readings = {"breaker_open:deepseek": Reading(None, "store unreachable"), "redis_down": Reading(False)}
    assert rules_level(RULES, readings) == (DegradationLevel.NORMAL, [])


def step(state, wanted, now, hold=60.0, causes=("x",)):
    return auto_step(state, wanted=wanted, causes=list(causes), now=now, step_down_seconds=hold)


def test_the_level_steps_up_at_once():
    state = step(LevelState(), DegradationLevel.SEVERE, now=100.0)
    assert state.auto_level == DegradationLevel.SEVERE
    assert state.step_down_since is None


def test_the_level_steps_down_only_after_the_lower_level_held_for_the_hold_time():
    state = step(LevelState(), DegradationLevel.SEVERE, now=100.0)
    state = step(state, DegradationLevel.NORMAL, now=110.0, causes=())
    assert (state.auto_level, state.step_down_level, state.step_down_since) == (3, 0, 110.0)
    state = step(state, DegradationLevel.NORMAL, now=169.0, causes=())
    assert state.auto_level == DegradationLevel.SEVERE
    state = step(state, DegradationLevel.NORMAL, now=170.0, causes=())
    assert state.auto_level == DegradationLevel.NORMAL
    assert state.step_down_since is None
    assert "stepped down after 60 s" in state.auto_reason


def test_a_step_down_goes_to_the_highest_level_asked_for_during_the_wait():
    state = step(LevelState(), DegradationLevel.CRITICAL, now=0.0)
    state = step(state, DegradationLevel.NORMAL, now=10.0, causes=())
    state = step(state, DegradationLevel.MODERATE, now=20.0)
    state = step(state, DegradationLevel.NORMAL, now=70.0, causes=())
    assert state.auto_level == DegradationLevel.MODERATE
    # ... and the next step down waits its own full hold time.
    state = step(state, DegradationLevel.NORMAL, now=80.0, causes=())
    state = step(state, DegradationLevel.NORMAL, now=139.0, causes=())
    assert state.auto_level == DegradationLevel.MODERATE
    assert step(state, DegradationLevel.NORMAL, now=140.0, causes=()).auto_level == DegradationLevel.NORMAL


def test_rising_again_during_the_wait_cancels_the_step_down():
    state = step(LevelState(), DegradationLevel.SEVERE, now=0.0)
    state = step(state, DegradationLevel.NORMAL, now=10.0, causes=())
    state = step(state, DegradationLevel.SEVERE, now=20.0)
    state = step(state, DegradationLevel.NORMAL, now=75.0, causes=())
    assert state.auto_level == DegradationLevel.SEVERE
    assert state.step_down_since == 75.0


def test_with_no_hold_time_the_level_follows_the_rules_both_ways():
    state = step(LevelState(), DegradationLevel.SEVERE, now=0.0, hold=0.0)
    assert step(state, DegradationLevel.MINOR, now=0.0, hold=0.0).auto_level == DegradationLevel.MINOR


def test_an_override_wins_until_its_expiry_then_the_rules_level_returns():
    state = LevelState(
        level=DegradationLevel.MODERATE,
        source=OPERATOR,
        reason="maintenance",
        set_by="cli:root",
        expires_at=200.0,
        auto_level=DegradationLevel.MINOR,
        auto_reason="breaker_open:deepseek",
    )
    assert state.effective(199.9) is state
    after = state.effective(200.0)
    assert (after.level, after.source, after.reason, after.expires_at) == (1, AUTO, "breaker_open:deepseek", None)


def test_an_override_without_expiry_never_ends_by_itself():
    state = LevelState(level=4, source=OPERATOR, expires_at=None)
    assert state.effective(10**12).level == 4


def test_the_state_survives_its_json_form():
    state = replace(LevelState(level=2, conditions={"redis_down": {"met": False}}), unrecorded=({"at": 1.0},))
    assert LevelState.from_json(state.as_json()) == state
