from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reliability.dlq.classify import Failure
from reliability.dlq.models import FailureKind
from reliability.dlq.strategies import backoff_seconds, recovery_plan

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _backoff(settings):
    settings.DLQ_BACKOFF_BASE_SECONDS = 10
    settings.DLQ_BACKOFF_MAX_SECONDS = 1000


def plan(kind: FailureKind, attempts: int = 1, max_retries: int = 5, retry_after: float | None = None):
    failure = Failure(kind, "E", "boom", retry_after=retry_after)
    return recovery_plan(failure=failure, attempts=attempts, max_retries=max_retries, now=NOW, rng=lambda: 1.0)


def test_backoff_doubles_per_attempt_with_jitter_and_a_cap():
    assert backoff_seconds(attempts=0, rng=lambda: 1.0) == 10
    assert backoff_seconds(attempts=3, rng=lambda: 1.0) == 80
    assert backoff_seconds(attempts=3, rng=lambda: 0.0) == 40
    assert backoff_seconds(attempts=20, rng=lambda: 1.0) == 1000


@pytest.mark.parametrize("kind", [FailureKind.TRANSIENT, FailureKind.UNKNOWN])
def test_transient_and_unknown_back_off(kind):
    result = plan(kind, attempts=2)
    assert (result.status, result.spends_attempt, result.outcome) == ("pending", True, "failed")
    assert result.next_retry_at == NOW + timedelta(seconds=40)


def test_rate_limited_waits_for_retry_after_or_backs_off_without_it():
    assert plan(FailureKind.RATE_LIMITED, retry_after=90).next_retry_at == NOW + timedelta(seconds=90)
    assert plan(FailureKind.RATE_LIMITED, attempts=1).next_retry_at == NOW + timedelta(seconds=20)


def test_breaker_open_waits_for_the_breaker_without_spending_an_attempt_even_at_the_limit():
    result = plan(FailureKind.BREAKER_OPEN, attempts=5, max_retries=5, retry_after=30)
    assert (result.status, result.spends_attempt, result.outcome) == ("pending", False, "deferred")
    assert result.next_retry_at == NOW + timedelta(seconds=30)


def test_permanent_is_exhausted_at_once():
    result = plan(FailureKind.PERMANENT, attempts=1, max_retries=5)
    assert (result.status, result.next_retry_at, result.outcome) == ("exhausted", None, "exhausted")


@pytest.mark.parametrize("kind", [FailureKind.TRANSIENT, FailureKind.RATE_LIMITED, FailureKind.UNKNOWN])
def test_exhausted_when_attempts_reach_max_retries(kind):
    assert plan(kind, attempts=4, max_retries=5).status == "pending"
    assert plan(kind, attempts=5, max_retries=5, retry_after=1).status == "exhausted"
