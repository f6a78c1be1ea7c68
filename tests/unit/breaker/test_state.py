"""Every transition rule of the pure state machine, with an explicit clock."""

from __future__ import annotations

import os

import pytest

from reliability.breaker.config import CircuitBreakerConfig
from reliability.breaker.state import (
    CLOSED,
    DISABLED,
    FAILURE,
    FORCED_OPEN,
    HALF_OPEN,
    IGNORED,
    METRICS_ONLY,
    OPEN,
    SUCCESS,
    BreakerCore,
    Permit,
    new_token,
)

CONFIG = CircuitBreakerConfig(
    failure_threshold=3,
    failure_rate_threshold=0.5,
    minimum_requests=4,
    window_size=6,
    recovery_timeout=10.0,
    success_threshold=2,
    half_open_max_calls=2,
    timeout=5.0,
    max_recovery_timeout=35.0,
)


def record(core, outcome, now=0.0, *, slow=False, permit=None, config=CONFIG):
    return core.record(config, now, outcome, slow, permit)


def open_core(now=0.0):
    core = BreakerCore()
    for _ in range(3):
        record(core, FAILURE, now)
    assert core.state == OPEN
    return core


def test_breaker_opens_after_consecutive_failures():
    core = BreakerCore()
    assert record(core, FAILURE) is None
    assert record(core, FAILURE) is None
    transition = record(core, FAILURE, 100.0)
    assert (transition.from_state, transition.to_state, transition.reason) == (CLOSED, OPEN, "consecutive_failures")
    assert transition.consecutive_failures == 3
    assert core.open_until == 110.0


def test_success_resets_the_consecutive_count():
    config = CircuitBreakerConfig(failure_threshold=3, minimum_requests=10, window_size=10)
    core = BreakerCore()
    for outcome in (FAILURE, FAILURE, SUCCESS, FAILURE):
        record(core, outcome, config=config)
    assert core.state == CLOSED
    assert core.consecutive_failures == 1


def test_failure_rate_trigger_waits_for_minimum_requests():
    config = CircuitBreakerConfig(failure_threshold=100, minimum_requests=4, window_size=6, failure_rate_threshold=0.5)
    core = BreakerCore()
    for outcome in (FAILURE, SUCCESS, FAILURE):
        assert record(core, outcome, config=config) is None  # 2 of 3 failed, but only 3 calls
    transition = record(core, SUCCESS, config=config)  # 2 of 4 = 50 %
    assert transition.reason == "failure_rate"
    assert transition.failure_rate == 0.5


def test_failure_rate_below_threshold_stays_closed():
    config = CircuitBreakerConfig(failure_threshold=100, minimum_requests=4, window_size=6, failure_rate_threshold=0.5)
    core = BreakerCore()
    for outcome in (FAILURE, SUCCESS, SUCCESS, SUCCESS, FAILURE, SUCCESS):
        assert record(core, outcome, config=config) is None
    assert core.failure_rate == pytest.approx(2 / 6)


def test_window_keeps_only_the_last_calls_with_running_totals():
    config = CircuitBreakerConfig(failure_threshold=100, minimum_requests=3, window_size=3, failure_rate_threshold=1.0)
    core = BreakerCore()
    record(core, FAILURE, config=config)
    record(core, SUCCESS, config=config, slow=True)
    record(core, SUCCESS, config=config)
    assert (core.total, core.failures, core.slow) == (3, 1, 1)
    record(core, SUCCESS, config=config)  # pushes out the failure
    assert (core.total, core.failures, core.slow) == (3, 0, 1)
    record(core, SUCCESS, config=config)  # pushes out the slow call
    assert (core.total, core.failures, core.slow) == (3, 0, 0)
    assert core.failure_rate == 0.0


def test_slow_call_rate_opens_the_breaker():
    config = CircuitBreakerConfig(
        failure_threshold=100, minimum_requests=2, window_size=4, slow_call_threshold=1.0, slow_call_rate_threshold=0.5
    )
    core = BreakerCore()
    assert record(core, SUCCESS, slow=True, config=config) is None
    transition = record(core, SUCCESS, config=config)
    assert transition.reason == "slow_calls"


def test_slow_calls_do_not_open_when_the_trigger_is_off():
    config = CircuitBreakerConfig(failure_threshold=100, minimum_requests=2, window_size=4)
    core = BreakerCore()
    for _ in range(4):
        assert record(core, SUCCESS, slow=True, config=config) is None


def test_ignored_outcomes_are_not_counted():
    core = BreakerCore()
    record(core, FAILURE)
    record(core, FAILURE)
    record(core, IGNORED)
    assert core.consecutive_failures == 2
    assert core.total == 2


def test_open_rejects_until_the_open_time_is_up_then_goes_half_open():
    core = open_core(0.0)
    decision = core.acquire(CONFIG, 4.0)
    assert not decision.allowed
    assert decision.retry_after == pytest.approx(6.0)
    decision = core.acquire(CONFIG, 10.0)
    assert decision.allowed and decision.permit
    assert [(t.from_state, t.to_state, t.reason) for t in decision.transitions] == [
        (OPEN, HALF_OPEN, "recovery_timeout")
    ]


def test_half_open_admits_at_most_max_calls_at_once():
    core = open_core(0.0)
    first = core.acquire(CONFIG, 10.0)
    second = core.acquire(CONFIG, 10.0)
    third = core.acquire(CONFIG, 10.0)
    assert first.allowed and second.allowed and not third.allowed
    assert third.retry_after == pytest.approx(CONFIG.timeout)
    record(core, SUCCESS, 10.5, permit=first.permit)
    assert core.acquire(CONFIG, 10.5).allowed  # the finished trial gave its slot back


def test_half_open_permit_lapses_after_the_timeout():
    core = open_core(0.0)
    core.acquire(CONFIG, 10.0)
    core.acquire(CONFIG, 10.0)
    assert not core.acquire(CONFIG, 14.9).allowed
    assert core.acquire(CONFIG, 15.0).allowed


def test_success_threshold_successes_close_and_clear_the_window():
    core = open_core(0.0)
    first = core.acquire(CONFIG, 10.0)
    second = core.acquire(CONFIG, 10.0)
    assert record(core, SUCCESS, 11.0, permit=first.permit) is None
    transition = record(core, SUCCESS, 11.0, permit=second.permit)
    assert (transition.from_state, transition.to_state, transition.reason) == (HALF_OPEN, CLOSED, "half_open_success")
    assert (core.total, core.failures, core.consecutive_failures) == (0, 0, 0)


def test_failure_in_half_open_reopens_with_doubled_open_time_up_to_the_maximum():
    core = open_core(0.0)
    durations = []
    now = 0.0
    for _ in range(3):
        now = core.open_until
        trial = core.acquire(CONFIG, now)
        transition = record(core, FAILURE, now, permit=trial.permit)
        assert (transition.to_state, transition.reason) == (OPEN, "half_open_failure")
        durations.append(core.open_until - now)
    assert durations == [20.0, 35.0, 35.0]


def test_reclose_then_reopen_starts_from_the_first_open_time():
    core = open_core(0.0)
    trial = core.acquire(CONFIG, 10.0)
    record(core, FAILURE, 10.0, permit=trial.permit)  # open for 20 s
    a, b = core.acquire(CONFIG, 30.0), core.acquire(CONFIG, 30.0)
    record(core, SUCCESS, 30.0, permit=a.permit)
    record(core, SUCCESS, 30.0, permit=b.permit)
    assert core.state == CLOSED
    for _ in range(3):
        record(core, FAILURE, 40.0)
    assert core.open_until == 50.0


def test_outcomes_without_a_permit_of_this_period_do_not_decide_half_open():
    core = open_core(0.0)
    core.acquire(CONFIG, 10.0)
    assert record(core, FAILURE, 10.0, permit=None) is None  # admitted before it opened
    earlier = Permit("from-an-earlier-half-open-period", core.half_open_period - 1)
    assert record(core, FAILURE, 10.0, permit=earlier) is None
    assert core.state == HALF_OPEN


def test_a_trial_failure_reopens_even_after_its_permit_lapsed():
    core = open_core(0.0)
    hung = core.acquire(CONFIG, 10.0)
    core.acquire(CONFIG, 10.0)
    later = core.acquire(CONFIG, 15.0)  # both permits lapsed at 15: the slot is given again
    assert later.allowed and hung.permit.token not in core.permits
    transition = record(core, FAILURE, 16.0, permit=hung.permit)
    assert (transition.from_state, transition.to_state, transition.reason) == (HALF_OPEN, OPEN, "half_open_failure")
    assert core.open_until == 16.0 + 20.0


def test_a_success_whose_permit_lapsed_is_not_counted_as_a_trial():
    core = open_core(0.0)
    slow = core.acquire(CONFIG, 10.0)
    first, second = core.acquire(CONFIG, 15.0), core.acquire(CONFIG, 15.0)
    assert record(core, SUCCESS, 16.0, permit=slow.permit) is None
    assert core.half_open_successes == 0
    record(core, SUCCESS, 16.0, permit=first.permit)
    assert record(core, SUCCESS, 16.0, permit=second.permit).to_state == CLOSED


def test_a_late_trial_of_an_earlier_half_open_period_does_not_decide_the_next_one():
    core = open_core(0.0)
    hung = core.acquire(CONFIG, 10.0)
    other = core.acquire(CONFIG, 10.0)
    record(core, FAILURE, 11.0, permit=other.permit)  # reopens until 31
    trial = core.acquire(CONFIG, 31.0)
    assert trial.permit.period == hung.permit.period + 1
    assert record(core, FAILURE, 32.0, permit=hung.permit) is None
    assert core.state == HALF_OPEN and trial.permit.token in core.permits


def test_ignored_trial_call_frees_its_permit_without_deciding():
    core = open_core(0.0)
    trial = core.acquire(CONFIG, 10.0)
    assert record(core, IGNORED, 10.0, permit=trial.permit) is None
    assert core.state == HALF_OPEN and not core.permits


def test_calls_finishing_while_open_are_not_counted():
    core = open_core(0.0)
    total = core.total
    assert record(core, FAILURE, 1.0) is None
    assert core.total == total


@pytest.mark.parametrize("target", [FORCED_OPEN, DISABLED, METRICS_ONLY])
def test_operator_states_make_no_transitions(target):
    core = BreakerCore()
    transition = core.set_state(target, 0.0)
    assert (transition.to_state, transition.reason) == (target, "operator")
    for _ in range(10):
        assert record(core, FAILURE) is None
    assert core.state == target
    decision = core.acquire(CONFIG, 0.0)
    assert decision.allowed is (target != FORCED_OPEN)
    if target == FORCED_OPEN:
        assert decision.retry_after is None


def test_metrics_only_counts_and_disabled_does_not():
    metrics_only, disabled = BreakerCore(), BreakerCore()
    metrics_only.set_state(METRICS_ONLY, 0.0)
    disabled.set_state(DISABLED, 0.0)
    for core in (metrics_only, disabled):
        record(core, FAILURE)
    assert metrics_only.total == 1 and metrics_only.consecutive_failures == 1
    assert disabled.total == 0


def test_operator_reset_clears_everything():
    core = open_core(0.0)
    transition = core.set_state(CLOSED, 1.0)
    assert (transition.from_state, transition.to_state) == (OPEN, CLOSED)
    assert (core.total, core.consecutive_failures, core.open_until, core.open_duration) == (0, 0, 0.0, 0.0)
    assert core.acquire(CONFIG, 1.0).allowed


def test_operator_cannot_set_automatic_states():
    with pytest.raises(ValueError, match="operators cannot set"):
        BreakerCore().set_state(HALF_OPEN, 0.0)


def test_window_size_change_starts_an_empty_window():
    core = BreakerCore()
    record(core, FAILURE)
    record(core, FAILURE, config=CircuitBreakerConfig(failure_threshold=100, window_size=8, minimum_requests=8))
    assert len(core.ring) == 8 and core.total == 1


def test_round_trip_through_stored_data():
    core = open_core(0.0)
    core.acquire(CONFIG, 10.0)
    copy = BreakerCore.from_data(
        state=core.state,
        open_until=core.open_until,
        consecutive_failures=core.consecutive_failures,
        data=core.to_data(),
    )
    assert copy == core


def test_forked_children_mint_tokens_unlike_the_parent_and_each_other():
    minted_before_fork = [new_token() for _ in range(3)]
    children = []
    for _ in range(3):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report two tokens, leave at once
            os.close(read_end)
            os.write(write_end, f"{new_token()} {new_token()}".encode())
            os._exit(0)
        os.close(write_end)
        children.append((pid, read_end))
    tokens = list(minted_before_fork)
    for pid, read_end in children:
        with os.fdopen(read_end) as pipe:
            tokens += pipe.read().split()
        assert os.waitpid(pid, 0)[1] == 0
    tokens.append(new_token())  # the parent goes on after the forks
    assert len(tokens) == len(set(tokens)) == 10
