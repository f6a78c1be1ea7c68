"""Recovery strategies: what a failed replay (or a new letter) does next, by failure kind.

| kind | next |
|---|---|
| transient, unknown | ``pending``, exponential backoff with jitter; an attempt spent |
| rate_limited | ``pending`` after ``Retry-After`` (backoff when unknown); an attempt spent |
| breaker_open | ``pending`` after the breaker's ``retry_after``; no attempt spent |
| permanent | ``exhausted`` at once, for an operator |

Any kind but breaker_open is ``exhausted`` once the attempts reach ``max_retries``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from reliability.dlq.classify import Failure
from reliability.dlq.models import DeadLetterAttempt, DeadLetterStatus, FailureKind

Outcome = DeadLetterAttempt.Outcome


def backoff_seconds(*, attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with equal jitter: half the step fixed, half random, capped."""
    step = min(settings.DLQ_BACKOFF_BASE_SECONDS * (2 ** min(attempts, 30)), settings.DLQ_BACKOFF_MAX_SECONDS)
    return step / 2 + rng() * step / 2


@dataclass(frozen=True)
class RecoveryPlan:
    """What happens to a letter after a failed handling."""

    status: str
    next_retry_at: datetime | None
    # False only for breaker-open: waiting for a breaker is not a real attempt.
    spends_attempt: bool
    outcome: str


def recovery_plan(
    *, failure: Failure, attempts: int, max_retries: int, now: datetime, rng: Callable[[], float] = random.random
) -> RecoveryPlan:
    """The strategy for ``failure``; ``attempts`` counts the replays spent, the failed one included."""
    if failure.kind == FailureKind.BREAKER_OPEN:
        wait = failure.retry_after if failure.retry_after is not None else backoff_seconds(attempts=0, rng=rng)
        return RecoveryPlan(DeadLetterStatus.PENDING, now + timedelta(seconds=max(wait, 0.0)), False, Outcome.DEFERRED)
    if failure.kind == FailureKind.PERMANENT or attempts >= max_retries:
        return RecoveryPlan(DeadLetterStatus.EXHAUSTED, None, True, Outcome.EXHAUSTED)
    if failure.kind == FailureKind.RATE_LIMITED and failure.retry_after is not None:
        wait = failure.retry_after
    else:
        wait = backoff_seconds(attempts=attempts, rng=rng)
    return RecoveryPlan(DeadLetterStatus.PENDING, now + timedelta(seconds=wait), True, Outcome.FAILED)
