"""Operator services, selectors and the state gauge, on real Redis and PostgreSQL."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from prometheus_client import CollectorRegistry, generate_latest

from reliability.audit import AuditRecord
from reliability.breaker.breaker import CircuitBreaker, get_circuit_breaker
from reliability.breaker.config import CircuitBreakerConfig
from reliability.breaker.metrics import breaker_state_collector
from reliability.breaker.models import BreakerState, BreakerTransition
from reliability.breaker.models import CircuitBreaker as BreakerRow
from reliability.breaker.selectors import UnknownBreaker, breaker_list, breaker_names, breaker_snapshot
from reliability.breaker.services import (
    BreakerActionRefused,
    breaker_disable,
    breaker_force_open,
    breaker_metrics_only,
    breaker_normalize,
    breaker_reset,
    breaker_update_config,
)
from reliability.breaker.stores import LocalStore
from reliability.errors import CircuitOpenError, TransientError

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _breaker_settings(settings, redis_client):
    settings.CIRCUIT_BREAKER_CONFIGS = {
        "green_api": {"failure_threshold": 5, "recovery_timeout": 60.0},
        "deepseek": {"failure_threshold": 3, "recovery_timeout": 120.0},
    }


def fail():
    raise TransientError("down")


def open_breaker(name):
    cb = get_circuit_breaker(name)
    for _ in range(cb.config.failure_threshold):
        with pytest.raises(TransientError):
            cb.call(fail)
    assert cb.state == BreakerState.OPEN
    return cb


def test_known_breakers_are_settings_plus_rows():
    BreakerRow.objects.create(name="legacy_sms")
    assert breaker_names() == ["deepseek", "green_api", "legacy_sms"]


def test_reset_closes_writes_history_and_audit(superuser):
    open_breaker("deepseek")
    transition = breaker_reset(name="deepseek", actor=superuser, channel="admin", reason="provider fixed it")
    assert (transition.from_state, transition.to_state) == ("open", "closed")
    assert get_circuit_breaker("deepseek").state == BreakerState.CLOSED
    history = BreakerTransition.objects.filter(breaker__name="deepseek", reason="operator").get()
    assert (history.actor, history.note) == (superuser, "provider fixed it")
    audit = AuditRecord.objects.get(action="circuit_breaker.reset")
    assert (audit.actor_label, audit.target_id, audit.detail["from_state"]) == ("admin:root", "deepseek", "open")
    assert BreakerRow.objects.get(name="deepseek").config_version == 1


def test_seed_reset_from_code_is_audited_like_every_door():
    cb = open_breaker("deepseek")

    transition = cb.reset()

    assert (transition.from_state, transition.to_state) == ("open", "closed")
    assert cb.state == BreakerState.CLOSED
    audit = AuditRecord.objects.get(action="circuit_breaker.reset")
    assert (audit.actor_label, audit.target_id, audit.reason) == ("code:system", "deepseek", "reset from code")
    assert audit.detail == {"from_state": "open", "to_state": "closed"}


def test_seed_reset_refuses_a_breaker_neither_configured_nor_stored():
    stray = get_circuit_breaker("never_configured")

    with pytest.raises(UnknownBreaker, match="no circuit breaker named 'never_configured'"):
        stray.reset()

    assert not AuditRecord.objects.exists()
    assert not BreakerRow.objects.filter(name="never_configured").exists()


def test_force_open_rejects_without_retry_time_until_normalized():
    breaker_force_open(name="green_api", actor="oncall", channel="cli", reason="provider incident")
    cb = get_circuit_breaker("green_api")
    with pytest.raises(CircuitOpenError) as caught:
        cb.call(lambda: "x")
    assert caught.value.retry_after is None
    breaker_normalize(name="green_api", actor="oncall", channel="cli")
    assert cb.call(lambda: "x") == "x"
    assert AuditRecord.objects.filter(actor_label="cli:oncall").count() == 2


def test_disable_admits_everything_and_metrics_only_counts():
    breaker_disable(name="deepseek", actor=None, channel="api")
    cb = get_circuit_breaker("deepseek")
    for _ in range(10):
        with pytest.raises(TransientError):
            cb.call(fail)
    assert cb.state == BreakerState.DISABLED
    breaker_metrics_only(name="deepseek", actor=None, channel="api")
    for _ in range(10):
        with pytest.raises(TransientError):
            cb.call(fail)
    snapshot = breaker_snapshot(name="deepseek")
    assert (snapshot["state"], snapshot["consecutive_failures"], snapshot["failure_rate"]) == ("metrics_only", 10, 1.0)


def test_normalize_refuses_a_breaker_that_is_not_in_an_operator_state():
    with pytest.raises(BreakerActionRefused, match="use reset"):
        breaker_normalize(name="deepseek", actor=None, channel="cli")


def test_unknown_names_raise_unknown_breaker():
    for action in (breaker_reset, breaker_force_open, breaker_disable, breaker_normalize):
        with pytest.raises(UnknownBreaker, match="no circuit breaker named 'nope'"):
            action(name="nope", actor=None, channel="cli")
    with pytest.raises(UnknownBreaker):
        breaker_update_config(name="nope", changes={"failure_threshold": 2}, actor=None, channel="cli")
    with pytest.raises(UnknownBreaker):
        breaker_snapshot(name="nope")


def test_update_config_validates_and_applies(superuser):
    config = breaker_update_config(
        name="green_api", changes={"failure_threshold": "2", "timeout": 4}, actor=superuser, channel="admin"
    )
    assert (config.failure_threshold, config.timeout, config.recovery_timeout) == (2, 4.0, 60.0)
    row = BreakerRow.objects.get(name="green_api")
    assert (row.failure_threshold, row.timeout, row.config_version) == (2, 4.0, 1)
    audit = AuditRecord.objects.get(action="circuit_breaker.update_config")
    assert audit.detail == {
        "before": {"failure_threshold": None, "timeout": None},
        "after": {"failure_threshold": 2, "timeout": 4.0},
    }
    # Clearing an override goes back to the settings value.
    config = breaker_update_config(
        name="green_api", changes={"failure_threshold": None}, actor=superuser, channel="admin"
    )
    assert config.failure_threshold == 5


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"failure_threshold": -1}, "failure_threshold"),
        ({"failure_rate_threshold": 1.5}, "failure_rate_threshold"),
        ({"minimum_requests": 500}, "minimum_requests"),
        ({"window_size": "ten"}, "window_size"),
        ({"scope": "local"}, "scope"),
    ],
)
def test_update_config_refuses_bad_values_and_changes_nothing(changes, field):
    with pytest.raises(ValidationError) as caught:
        breaker_update_config(name="green_api", changes=changes, actor=None, channel="api")
    assert field in caught.value.message_dict
    assert not AuditRecord.objects.exists()
    assert not BreakerRow.objects.filter(name="green_api", config_version__gt=0).exists()


def test_config_change_reaches_another_process_on_its_next_call():
    other = CircuitBreaker("green_api")  # stands for the same breaker in another process
    assert other.config.failure_threshold == 5
    breaker_update_config(name="green_api", changes={"failure_threshold": 1}, actor=None, channel="api")
    other.call(lambda: None)  # the script's reply carries the new config version
    assert other.config.failure_threshold == 1
    with pytest.raises(TransientError):
        other.call(fail)
    assert other.state == BreakerState.OPEN


def test_local_breakers_obey_operators_within_a_poll(settings):
    settings.CIRCUIT_BREAKER_CONFIGS = {"dns": {"failure_threshold": 1, "scope": "local"}}
    now = [1000.0]
    config = CircuitBreakerConfig(failure_threshold=1, scope="local")
    other = CircuitBreaker("dns", config, store=LocalStore("dns", config), clock=lambda: now[0])
    with pytest.raises(TransientError):
        other.call(fail)
    assert other.state == BreakerState.OPEN
    breaker_reset(name="dns", actor=None, channel="cli")
    now[0] += 1.0
    assert other.state == BreakerState.CLOSED
    breaker_force_open(name="dns", actor=None, channel="cli")
    now[0] += 1.0
    with pytest.raises(CircuitOpenError):
        other.call(lambda: None)
    # A process started later obeys the standing order too.
    late = CircuitBreaker("dns", config, store=LocalStore("dns", config))
    assert late.state == BreakerState.FORCED_OPEN


def test_snapshot_and_list_show_live_state_and_effective_config():
    open_breaker("deepseek")
    snapshot = breaker_snapshot(name="deepseek")
    assert snapshot["state"] == "open"
    assert snapshot["store"] == "redis"
    assert snapshot["consecutive_failures"] == 3
    assert snapshot["failure_rate"] == 1.0
    assert 119 < snapshot["retry_after"] <= 120
    assert snapshot["config"]["failure_threshold"] == 3
    assert snapshot["open_until"] is not None
    assert [item["name"] for item in breaker_list()] == ["deepseek", "green_api"]


def test_state_gauge_reads_the_shared_store():
    open_breaker("deepseek")
    registry = CollectorRegistry()
    registry.register(breaker_state_collector)
    text = generate_latest(registry).decode()
    assert 'circuit_breaker_state{name="deepseek"} 1.0' in text
    assert 'circuit_breaker_state{name="green_api"} 0.0' in text
