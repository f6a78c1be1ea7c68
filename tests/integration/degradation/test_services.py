"""The monitor and the operator services against the real conditions: breakers, health checks, PostgreSQL."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from prometheus_client import CollectorRegistry

from reliability.audit import AuditRecord
from reliability.breaker.services import breaker_force_open, breaker_reset
from reliability.degradation import allows, degradation_level_changed
from reliability.degradation.levels import DegradationLevel, InvalidDuration, UnknownLevel
from reliability.degradation.metrics import degradation_event_collector
from reliability.degradation.models import DegradationEvent
from reliability.degradation.selectors import degradation_status
from reliability.degradation.services import (
    DegradationActionRefused,
    degradation_clear,
    degradation_evaluate,
    degradation_set_level,
)
from reliability.degradation.store import redis_state_read, view

pytestmark = pytest.mark.django_db


def history():
    return [(e.from_level, e.to_level, e.source) for e in DegradationEvent.objects.order_by("id")]


def count(old, new, source):
    """``degradation_events_total`` as the scrape reports it: counted from the history rows."""
    registry = CollectorRegistry()
    registry.register(degradation_event_collector)
    return registry.get_sample_value("degradation_events_total", {"from": old, "to": new, "source": source}) or 0


@pytest.fixture
def received():
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    degradation_level_changed.connect(receiver)
    yield calls
    degradation_level_changed.disconnect(receiver)


def test_nothing_wrong_is_normal_and_records_no_change(committed):
    with committed():
        state = degradation_evaluate()
    assert state.level == DegradationLevel.NORMAL
    assert history() == []
    seen = degradation_status()["conditions"]
    assert seen["breaker_open:deepseek"] == {"met": False, "level": "minor", "detail": "closed"}
    assert seen["database_down"]["met"] is False
    assert seen["redis_down"]["met"] is False
    assert seen["database_read_only"] == {"met": False, "level": "critical", "detail": "writable"}
    assert seen["health:green_api:stateInstance!=authorized"] == {
        "met": False,
        "level": "moderate",
        "detail": "stateInstance=authorized",
    }


def test_an_open_breaker_raises_the_level_at_once_and_the_highest_rule_wins(committed, superuser):
    breaker_force_open(name="deepseek", actor=superuser, channel="admin")
    with committed():
        assert degradation_evaluate().level == DegradationLevel.MINOR
    breaker_force_open(name="green_api", actor=superuser, channel="admin")
    with committed():
        state = degradation_evaluate()
    assert (state.level, state.source, state.reason) == (DegradationLevel.MODERATE, "auto", "breaker_open:green_api")
    assert history() == [(0, 1, "auto"), (1, 2, "auto")]
    event = DegradationEvent.objects.latest("id")
    assert event.conditions["breaker_open:green_api"]["met"] is True
    assert event.actor_label == "auto"


def test_the_level_steps_down_only_after_the_hold_time(committed, superuser, settings):
    settings.DEGRADATION_STEP_DOWN_SECONDS = 60
    breaker_force_open(name="green_api", actor=superuser, channel="admin")
    now = time.time()
    with committed():
        degradation_evaluate(now=now)
    breaker_reset(name="green_api", actor=superuser, channel="admin")
    with committed():
        waiting = degradation_evaluate(now=now + 1)
        held = degradation_evaluate(now=now + 59)
        stepped = degradation_evaluate(now=now + 62)
    assert (waiting.level, waiting.step_down_level) == (DegradationLevel.MODERATE, DegradationLevel.NORMAL)
    assert held.level == DegradationLevel.MODERATE
    assert stepped.level == DegradationLevel.NORMAL
    assert history() == [(0, 2, "auto"), (2, 0, "auto")]


def test_a_read_only_database_is_critical_and_refuses_writes(committed):
    with connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute("SET default_transaction_read_only = on")
    with committed():
        state = degradation_evaluate()
    assert (state.level, state.read_only) == (DegradationLevel.CRITICAL, True)
    assert "transaction_read_only=on" in state.conditions["database_read_only"]["detail"]
    assert not allows("webhook_processing")


def test_read_only_mode_can_be_switched_on_in_the_settings(committed, settings):
    settings.DEGRADATION_READ_ONLY = True
    with committed():
        state = degradation_evaluate()
    assert (state.level, state.read_only, state.reason) == (4, True, "database_read_only")


def test_a_change_is_published_counted_and_announced_after_commit(committed, superuser, received):
    before = count("normal", "moderate", "operator")
    with committed():
        degradation_set_level(level="moderate", reason="maintenance", actor=superuser, channel="admin")
        assert received == []  # not before the commit
        assert redis_state_read() is None
    assert redis_state_read().level == DegradationLevel.MODERATE
    assert view.level() == DegradationLevel.MODERATE  # this process sees it without waiting
    assert count("normal", "moderate", "operator") == before + 1
    event = DegradationEvent.objects.get()
    assert received == [
        {
            "signal": degradation_level_changed,
            "old_level": DegradationLevel.NORMAL,
            "new_level": DegradationLevel.MODERATE,
            "source": "operator",
            "reason": "maintenance",
            "event_id": event.pk,
        }
    ]


def test_a_failing_receiver_does_not_undo_the_change(committed, superuser):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    degradation_level_changed.connect(broken)
    try:
        with committed():
            degradation_set_level(level="severe", reason="drill", actor=superuser, channel="admin")
    finally:
        degradation_level_changed.disconnect(broken)
    assert degradation_status()["level"] == "severe"


def test_an_override_wins_over_the_rules_until_it_expires_then_the_rules_return(committed, superuser, received):
    breaker_force_open(name="deepseek", actor=superuser, channel="admin")
    with committed():
        degradation_evaluate()
        degradation_set_level(level="normal", reason="false alarm", expires_in=30, actor=superuser, channel="api")
        hidden = degradation_evaluate()
    assert (hidden.level, hidden.source, hidden.auto_level) == (0, "operator", 1)
    expiry = hidden.expires_at
    with committed():
        back = degradation_evaluate(now=expiry + 0.01)
    assert (back.level, back.source, back.expires_at) == (DegradationLevel.MINOR, "auto", None)
    assert history() == [(0, 1, "auto"), (1, 0, "operator"), (0, 1, "auto")]
    expired = DegradationEvent.objects.latest("id")
    assert expired.reason.startswith("operator override expired (set by api:root: false alarm)")
    assert [(c["old_level"], c["new_level"]) for c in received] == [(0, 1), (1, 0), (0, 1)]


def test_a_read_after_the_expiry_shows_the_rules_level_before_the_monitor_records_it(committed, superuser):
    with committed():
        degradation_set_level(level="critical", reason="drill", expires_in=0.3, actor=superuser, channel="cli")
    assert degradation_status()["level"] == "critical"
    time.sleep(0.35)
    status = degradation_status()
    assert (status["level"], status["source"], status["expires_at"]) == ("normal", "auto", None)
    assert allows("outbound_sending")


def test_every_operator_change_is_audited(committed, superuser):
    with committed():
        degradation_set_level(level="severe", reason="db failover", expires_in=600, actor=superuser, channel="admin")
        degradation_clear(reason="failover done", actor=superuser, channel="admin")
    audits = list(AuditRecord.objects.order_by("id").values_list("action", "actor_label", "target_type", "reason"))
    assert audits == [
        ("degradation.set_level", "admin:root", "degradation", "db failover"),
        ("degradation.clear", "admin:root", "degradation", "failover done"),
    ]
    assert [record.detail["to_level"] for record in AuditRecord.objects.order_by("id")] == ["severe", "normal"]
    assert history() == [(0, 3, "operator"), (3, 0, "operator")]
    assert DegradationEvent.objects.latest("id").reason == "override cleared: failover done"


def test_clearing_without_an_override_is_refused(superuser):
    with pytest.raises(DegradationActionRefused, match="no operator override is in force"):
        degradation_clear(reason="tidy up", actor=superuser, channel="api")
    assert AuditRecord.objects.count() == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"level": "purple", "reason": "x"}, UnknownLevel),
        ({"level": "minor", "reason": ""}, ValueError),
        ({"level": "minor", "reason": "   "}, ValueError),
        ({"level": "minor", "reason": "x" * 501}, ValueError),
        ({"level": "minor", "reason": "x", "expires_in": -1}, InvalidDuration),
        ({"level": "minor", "reason": "x", "expires_in": 0}, InvalidDuration),
        ({"level": "minor", "reason": "x", "expires_in": float("nan")}, InvalidDuration),
        ({"level": "minor", "reason": "x", "expires_in": 10**9}, InvalidDuration),
    ],
)
def test_bad_operator_input_changes_nothing(superuser, kwargs, error):
    with pytest.raises(error):
        degradation_set_level(**kwargs, actor=superuser, channel="api")
    assert (DegradationEvent.objects.count(), AuditRecord.objects.count()) == (0, 0)


def test_a_newer_state_in_redis_wins_over_the_row_and_its_changes_reach_the_history(committed, superuser):
    """What the monitor published while the database was down is recorded once it is back."""
    from dataclasses import replace

    from reliability.degradation.store import state_from_row, state_publish, state_row

    row_state = state_from_row(state_row())
    change = {
        "from_level": 0,
        "to_level": 4,
        "source": "auto",
        "reason": "database_down",
        "at": time.time() - 60,
        "actor_label": "auto",
        "expires_at": None,
    }
    state_publish(
        replace(row_state, level=4, auto_level=4, auto_reason="database_down", version=7, unrecorded=(change,))
    )
    with committed():
        state = degradation_evaluate()
    assert state.version >= 7 and state.unrecorded == ()
    late = DegradationEvent.objects.order_by("id").first()
    assert (late.from_level, late.to_level, late.source) == (0, 4, "auto")
    assert "recorded late" in late.reason


def test_the_monitor_is_seeded_as_an_editable_periodic_task_every_30_seconds():
    from django_celery_beat.models import PeriodicTask

    job = PeriodicTask.objects.get(name="Re-evaluate the degradation level")
    assert (job.task, job.enabled, job.expire_seconds) == ("monitor_degradation_level", True, 30)
    assert (job.interval.every, job.interval.period) == (30, "seconds")


def test_the_beat_task_evaluates_under_the_maintenance_lock(committed, superuser):
    from django.core.cache import cache

    from reliability.tasks import monitor_degradation_level

    breaker_force_open(name="green_api", actor=superuser, channel="admin")
    with committed():
        assert monitor_degradation_level() == {"skipped": False, "level": "moderate", "source": "auto"}
    with cache.lock("dlq:job-lock:degradation_monitor", timeout=10):  # another run holds it
        assert monitor_degradation_level() == {"skipped": True}


def test_a_green_api_instance_that_is_not_authorized_is_moderate(committed, green_api):
    """The messaging pipeline's Green API health check feeds the rule by its observed state."""
    green_api.control(state_instance="notAuthorized")
    time.sleep(1.1)  # the check asks Green API at most once a second
    with committed():
        state = degradation_evaluate()
    assert (state.level, state.reason) == (DegradationLevel.MODERATE, "health:green_api:stateInstance!=authorized")
    assert state.conditions["health:green_api:stateInstance!=authorized"]["detail"] == "stateInstance=notAuthorized"
    assert not allows("reports") and allows("auto_replies")


def test_the_green_api_stand_in_down_opens_its_breaker_and_the_level_is_moderate(committed, green_api):
    from messaging.clients.green_api import get_green_api_client

    green_api.control(outage=True)
    for _ in range(10):  # the calls the pipeline would make, failing
        try:
            with get_green_api_client() as client:
                client.get_state_instance()
        except Exception:  # noqa: BLE001 - connection refused, then the open breaker
            pass
    with committed():
        state = degradation_evaluate()
    assert (state.level, state.reason) == (DegradationLevel.MODERATE, "breaker_open:green_api")
    assert not allows("ai_sentiment") and allows("outbound_sending")
