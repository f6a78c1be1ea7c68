"""Shared state of the operator-door tests: a fresh Redis and a fresh breaker registry per test."""

from __future__ import annotations

import pytest

from reliability.breaker.breaker import forget_circuit_breakers


@pytest.fixture(autouse=True)
def _fresh_breakers(redis_client):
    # Breaker state lives in Redis, which outlives the test's rolled-back transaction.
    forget_circuit_breakers()
    yield
    forget_circuit_breakers()


@pytest.fixture
def operator(operator_factory):
    """Staff who may see breakers and use every breaker action, but not edit thresholds."""
    return operator_factory(
        "view_circuitbreaker",
        "reset_circuitbreaker",
        "force_open_circuitbreaker",
        "disable_circuitbreaker",
        "normalize_circuitbreaker",
    )


@pytest.fixture
def viewer(operator_factory):
    """Staff who may look at breakers and nothing else."""
    return operator_factory("view_circuitbreaker", username="viewer")
