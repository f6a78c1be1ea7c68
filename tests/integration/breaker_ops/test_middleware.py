from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import Client

from reliability.breaker.models import BreakerTransition, TransitionReason
from reliability.breaker.selectors import breaker_snapshot
from reliability.breaker.services import breaker_force_open
from reliability.middleware import MIDDLEWARE_PATH, add_circuit_breaker_middleware
from tests.integration.breaker_ops.urls import calls

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.integration.breaker_ops.urls")]

THRESHOLD = 3
RECOVERY = 5.0


@pytest.fixture(autouse=True)
def _api_breakers(settings):
    calls.clear()
    settings.CIRCUIT_BREAKER_CONFIGS = {
        **settings.CIRCUIT_BREAKER_CONFIGS,
        "api_messages": {"failure_threshold": THRESHOLD, "recovery_timeout": RECOVERY},
        "api_webhooks": {"failure_threshold": THRESHOLD, "recovery_timeout": RECOVERY},
    }


@pytest.fixture
def client():
    # Like a real server: a view's exception becomes a 500 response instead of failing the test.
    return Client(raise_request_exception=False)


def test_consecutive_5xx_open_the_breaker_and_it_answers_503_without_running_the_view(client):
    for _ in range(THRESHOLD):
        assert client.get("/api/v1/messages/fail/").status_code == 502

    response = client.get("/api/v1/messages/ok/")

    assert response.status_code == 503
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= RECOVERY
    assert response.json() == {
        "detail": "temporarily unavailable: too many recent failures, try again later",
        "circuit_breaker": "api_messages",
        "retry_after": retry_after,
    }
    assert calls == {"messages:fail": THRESHOLD}
    assert client.get("/api/v1/messages/fail/").status_code == 503
    assert calls["messages:fail"] == THRESHOLD
    opened = BreakerTransition.objects.get(breaker__name="api_messages")
    assert opened.reason == TransitionReason.CONSECUTIVE_FAILURES


def test_view_exceptions_count_as_failures(client):
    for _ in range(THRESHOLD):
        assert client.get("/api/v1/messages/boom/").status_code == 500

    assert client.get("/api/v1/messages/ok/").status_code == 503
    assert calls == {"messages:boom": THRESHOLD}


def test_other_answers_count_as_successes(client):
    client.get("/api/v1/messages/fail/")
    client.get("/api/v1/messages/fail/")
    assert client.get("/api/v1/messages/bad/").status_code == 400
    assert client.get("/api/v1/messages/ok/").status_code == 200

    snapshot = breaker_snapshot(name="api_messages")
    assert snapshot["state"] == "closed"
    assert snapshot["consecutive_failures"] == 0
    assert snapshot["calls_in_window"] == 4
    assert snapshot["failure_rate"] == 0.5


def test_each_prefix_has_its_own_breaker(client):
    for _ in range(THRESHOLD):
        client.get("/api/v1/messages/fail/")

    assert client.get("/api/v1/messages/ok/").status_code == 503
    assert client.get("/api/v1/webhooks/ok/").status_code == 200
    assert breaker_snapshot(name="api_webhooks")["calls_in_window"] == 1


def test_an_operator_forced_open_breaker_rejects_with_its_recovery_time(client, superuser):
    breaker_force_open(name="api_webhooks", actor=superuser, channel="admin")

    response = client.get("/api/v1/webhooks/ok/")

    assert response.status_code == 503
    assert response["Retry-After"] == str(int(RECOVERY))
    assert calls == {}


def test_the_breaker_lets_a_trial_request_through_after_the_recovery_time(client, settings):
    settings.CIRCUIT_BREAKER_CONFIGS = {
        **settings.CIRCUIT_BREAKER_CONFIGS,
        "api_triggers": {"failure_threshold": 1, "recovery_timeout": 0.3, "success_threshold": 1},
    }
    client.get("/api/v1/triggers/fail/")
    rejected = client.get("/api/v1/triggers/ok/")
    assert rejected.status_code == 503
    assert rejected["Retry-After"] == "1"  # never 0, even with less than a second left

    time.sleep(0.35)

    assert client.get("/api/v1/triggers/ok/").status_code == 200
    assert breaker_snapshot(name="api_triggers")["state"] == "closed"


def test_unprotected_paths_never_touch_a_breaker(client, superuser, redis_client):
    for name in settings.CIRCUIT_BREAKER_PROTECTED_PATHS.values():
        breaker_force_open(name=name, actor=superuser, channel="admin")
    idle = _redis_commands_during(redis_client, lambda: None)

    during = _redis_commands_during(redis_client, lambda: [client.get("/other/fail/") for _ in range(5)])

    assert during == idle  # not one Redis command for a path outside the prefixes
    assert client.get("/other/ok/").status_code == 200
    assert client.get("/api/v1/other/ok/").status_code == 200  # similar, but not a protected prefix
    assert calls == {"other:fail": 5, "other:ok": 2}


def _redis_commands_during(redis_client, action) -> int:
    before = redis_client.info("stats")["total_commands_processed"]
    action()
    return redis_client.info("stats")["total_commands_processed"] - before


def test_the_middleware_sits_right_after_the_request_id():
    assert settings.MIDDLEWARE[:2] == ["config.request_id.RequestIdMiddleware", MIDDLEWARE_PATH]
    assert add_circuit_breaker_middleware(settings.MIDDLEWARE) == settings.MIDDLEWARE
    assert add_circuit_breaker_middleware(["a.B", "c.D"]) == [MIDDLEWARE_PATH, "a.B", "c.D"]
