"""Shared state of the degradation tests: a fresh Redis, breaker registry, health cache and state copy."""

from __future__ import annotations

import pytest

from health.checks import clear_cache
from reliability.breaker.breaker import forget_circuit_breakers
from reliability.degradation.store import view
from reliability.retry import budget as retry_budget
from sandbox import GreenApiStandIn


@pytest.fixture(autouse=True)
def _fresh_state(redis_client, monkeypatch):
    # The published state and the breakers live in Redis, which outlives the rolled-back transaction.
    # Failing Green API calls spend the process's retry budget: give this test its own.
    for service in ("green_api", "deepseek"):
        monkeypatch.setitem(retry_budget._budgets, service, retry_budget.RetryBudget(service))
    forget_circuit_breakers()
    clear_cache()
    view.forget()
    yield
    forget_circuit_breakers()
    view.forget()


@pytest.fixture(autouse=True)
def green_api(settings):
    """The Green API stand-in, authorized, so that its health check (a condition of the rules)
    answers as it does in a healthy deployment."""
    with GreenApiStandIn() as stand_in:
        settings.GREEN_API_URL = stand_in.url
        settings.GREEN_API_CONNECT_TIMEOUT = 0.5
        settings.GREEN_API_READ_TIMEOUT = 0.5
        yield stand_in


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what the code does after its commit (publish, count, log, signal) inside the test's transaction."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def operator(operator_factory):
    return operator_factory("view_degradationstate", "set_degradation_level")


@pytest.fixture
def viewer(operator_factory):
    return operator_factory("view_degradationstate", username="viewer")
