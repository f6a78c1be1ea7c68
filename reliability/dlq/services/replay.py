"""Replaying dead letters: one now (an operator's "try again"), a claimed batch of due ones,
or batches until the queue is drained or the caller's time is up.

Letters are claimed with a lease (``reliability.dlq.claim``); handlers run outside any
transaction; each outcome is recorded only while the lease still holds. Claims lost to a
dead worker are settled, and each type's replay rate is limited. What happens after a
failure is decided by ``reliability.dlq.strategies.recovery_plan``.

A run inside a Celery task has a time limit. Callers pass a ``deadline`` (a ``clock()``
time inside that limit): after it no batch is claimed and no handler started. When the
soft time limit still interrupts a handler (``SoftTimeLimitExceeded``), that is the
letter's failure, and the letters not yet started are given back: the task ends by
itself instead of being killed mid-handler, which would charge every letter it held a
"worker lost" attempt.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reliability.audit import audit_record
from reliability.dlq.claim import ClaimedLetter, claim_due_letters, resolve_claimed
from reliability.dlq.classify import classify_failure, failure_fingerprint
from reliability.dlq.exceptions import DeadLetterNotFound, DeadLetterStateError
from reliability.dlq.metrics import dlq_processing_duration, dlq_replays
from reliability.dlq.models import DeadLetter, DeadLetterAttempt, DeadLetterStatus, FailureKind
from reliability.dlq.ratelimit import replay_rate_limiter
from reliability.dlq.registry import get_handler
from reliability.dlq.selectors import operator_actionable
from reliability.dlq.services.capture import _MESSAGE_LIMIT, _TRACEBACK_LIMIT, _traceback_text
from reliability.dlq.strategies import recovery_plan
from reliability.redaction import redact_text

log = structlog.get_logger(__name__)

# The channel of automatic work (beat jobs, captured tasks): it writes no audit record.
SYSTEM = "system"
Outcome = DeadLetterAttempt.Outcome


@dataclass(frozen=True)
class ReplayResult:
    letter_id: int
    # resolved | failed (retry scheduled) | deferred (breaker open) | exhausted | released | lost_lease
    outcome: str
    status: str
    next_retry_at: datetime | None = None
    error_class: str = ""
    error_message: str = ""

    @property
    def resolved(self) -> bool:
        return self.outcome == "resolved"


def _lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.DLQ_CLAIM_LEASE_SECONDS)


def _run_handler(message_type: str, payload: Any) -> BaseException | None:
    started = time.perf_counter()
    try:
        get_handler(message_type)(payload)
    except Exception as exc:  # every failure is classified; none may escape a replay
        return exc
    finally:
        dlq_processing_duration.labels(message_type=message_type).observe(time.perf_counter() - started)
    return None


def _held(letter_id: int | Iterable[int], lease_until: datetime):
    ids = [letter_id] if isinstance(letter_id, int) else list(letter_id)
    return DeadLetter.objects.filter(id__in=ids, status=DeadLetterStatus.RETRYING, next_retry_at=lease_until)


def _record_failure(*, letter: ClaimedLetter, lease_until: datetime, error: BaseException) -> ReplayResult:
    now = timezone.now()
    failure = classify_failure(error)
    plan = recovery_plan(failure=failure, attempts=letter.attempts, max_retries=letter.max_retries, now=now)
    message = failure.message[:_MESSAGE_LIMIT]
    trace = redact_text(_traceback_text(error))[-_TRACEBACK_LIMIT:]
    with transaction.atomic():
        updated = _held(letter.id, lease_until).update(
            status=plan.status,
            next_retry_at=plan.next_retry_at,
            attempts=letter.attempts if plan.spends_attempt else letter.attempts - 1,
            error_class=failure.error_class[:200],
            error_message=message,
            traceback=trace,
            fingerprint=failure_fingerprint(
                message_type=letter.message_type, error_class=failure.error_class, message=message
            ),
            failure_kind=failure.kind,
            breaker_name=failure.breaker_name[:64],
            updated_at=now,
        )
        if not updated:
            return _lost_lease(letter)
        DeadLetterAttempt.objects.create(
            letter_id=letter.id,
            error_class=failure.error_class[:200],
            reason=message,
            failure_kind=failure.kind,
            outcome=plan.outcome,
        )
    outcome = {Outcome.DEFERRED: "deferred", Outcome.EXHAUSTED: "exhausted"}.get(plan.outcome, "failed")
    dlq_replays.labels(message_type=letter.message_type, outcome=outcome).inc()
    log.info(
        "dead_letter_replay_failed",
        letter_id=letter.id,
        message_type=letter.message_type,
        failure_kind=failure.kind.value,
        error_class=failure.error_class,
        status=plan.status,
        attempts=letter.attempts if plan.spends_attempt else letter.attempts - 1,
    )
    return ReplayResult(letter.id, outcome, plan.status, plan.next_retry_at, failure.error_class, message)


def _lost_lease(letter: ClaimedLetter) -> ReplayResult:
    # The lease ran out and another worker reclaimed the letter: its result stands, not ours.
    log.warning("dead_letter_lease_lost", letter_id=letter.id, message_type=letter.message_type)
    dlq_replays.labels(message_type=letter.message_type, outcome="lost_lease").inc()
    return ReplayResult(letter.id, "lost_lease", DeadLetterStatus.RETRYING)


def _record_successes(letters: Sequence[ClaimedLetter], lease_until: datetime) -> list[ReplayResult]:
    held = resolve_claimed(letter_ids=[letter.id for letter in letters], lease_until=lease_until, now=timezone.now())
    results = []
    for letter in letters:
        if letter.id in held:
            dlq_replays.labels(message_type=letter.message_type, outcome="resolved").inc()
            results.append(ReplayResult(letter.id, "resolved", DeadLetterStatus.RESOLVED))
        else:
            results.append(_lost_lease(letter))
    return results


def _release(letters: Sequence[ClaimedLetter], lease_until: datetime, *, wait: float) -> int:
    """Give claimed letters back, unhandled and with their attempt refunded, due in ``wait`` seconds."""
    if not letters:
        return 0
    now = timezone.now()
    return _held([letter.id for letter in letters], lease_until).update(
        status=DeadLetterStatus.PENDING,
        next_retry_at=now + timedelta(seconds=max(wait, 0.0)),
        attempts=F("attempts") - 1,
        updated_at=now,
    )


def _give_back(letters: Sequence[ClaimedLetter], lease_until: datetime, *, why: str) -> list[ReplayResult]:
    if letters:
        _release(letters, lease_until, wait=0.0)
        log.warning("dead_letter_batch_stopped", released=len(letters), why=why)
    return [ReplayResult(letter.id, "released", DeadLetterStatus.PENDING) for letter in letters]


def past_deadline(deadline: float | None, clock: Callable[[], float], *, after: float = 0.0) -> bool:
    """True when ``deadline`` (a ``clock()`` time) has passed, or will have after ``after`` seconds."""
    return deadline is not None and clock() + after >= deadline


def _handle_claimed(
    letters: Sequence[ClaimedLetter],
    lease_until: datetime,
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[ReplayResult]:
    """Run each letter's handler outside any transaction; successes are written in one go.

    No handler starts on a letter whose lease is about to run out (a slow batch run
    outside Celery's time limit: another worker could reclaim it mid-run), nor after
    ``deadline``, nor after the soft time limit interrupted a handler. Those letters are
    given back instead, unhandled, their attempt refunded.
    """
    results: list[ReplayResult] = []
    succeeded: list[ClaimedLetter] = []
    lease_stop = lease_until - timedelta(seconds=settings.DLQ_CLAIM_LEASE_SECONDS / 4)
    for index, letter in enumerate(letters):
        if timezone.now() >= lease_stop:
            results += _give_back(letters[index:], lease_until, why="lease runs short")
            break
        if past_deadline(deadline, clock):
            results += _give_back(letters[index:], lease_until, why="deadline")
            break
        error = _run_handler(letter.message_type, letter.payload)
        if error is None:
            succeeded.append(letter)
            continue
        results.append(_record_failure(letter=letter, lease_until=lease_until, error=error))
        if isinstance(error, SoftTimeLimitExceeded):
            results += _give_back(letters[index + 1 :], lease_until, why="time limit")
            break
    return results + _record_successes(succeeded, lease_until)


def _settle_lost_claims(letters: Sequence[ClaimedLetter], lease_until: datetime) -> list[ClaimedLetter]:
    """Record the attempts whose worker died; exhaust letters that have no attempt left."""
    runnable = []
    for letter in letters:
        if not letter.reclaimed:
            runnable.append(letter)
            continue
        spent = letter.attempts - 1  # the lost attempt was counted by the claim that lost it
        exhausted = spent >= letter.max_retries
        with transaction.atomic():
            DeadLetterAttempt.objects.create(
                letter_id=letter.id,
                reason="worker lost during handling (claim lease expired)",
                failure_kind=FailureKind.UNKNOWN,
                outcome=Outcome.EXHAUSTED if exhausted else Outcome.FAILED,
            )
            if exhausted:
                _held(letter.id, lease_until).update(
                    status=DeadLetterStatus.EXHAUSTED, next_retry_at=None, attempts=spent, updated_at=timezone.now()
                )
        log.warning("dead_letter_worker_lost", letter_id=letter.id, message_type=letter.message_type, spent=spent)
        if not exhausted:
            runnable.append(letter)
    return runnable


def _apply_rate_limit(
    letters: Sequence[ClaimedLetter], lease_until: datetime, rate: float
) -> tuple[list[ClaimedLetter], int]:
    """Keep what each type's bucket allows now; give the rest back, attempt refunded, for later."""
    limiter = replay_rate_limiter()
    by_type: dict[str, list[ClaimedLetter]] = {}
    for letter in letters:
        by_type.setdefault(letter.message_type, []).append(letter)
    allowed: list[ClaimedLetter] = []
    released = 0
    for message_type, group in by_type.items():
        grant = limiter.take(message_type, len(group), rate)
        allowed.extend(group[: grant.granted])
        released += _release(group[grant.granted :], lease_until, wait=max(grant.wait, 0.05))
    return allowed, released


def dead_letter_replay_batch(
    *,
    batch_size: int = 100,
    message_type: str | None = None,
    rate: float | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, int]:
    """Claim up to ``batch_size`` due letters and replay them; safe to run in many workers at once.

    ``rate`` (letters per second per type) overrides ``DLQ_REPLAY_RATE_PER_TYPE``; no
    handler starts after ``deadline`` (a ``clock()`` time). Returns counts: claimed,
    resolved, failed, deferred, exhausted, released (over the rate or out of time, put
    back for later), lost_lease.
    """
    if batch_size <= 0:
        raise ValueError("batch_size must be positive")
    rate = rate if rate is not None else settings.DLQ_REPLAY_RATE_PER_TYPE
    if rate <= 0:
        raise ValueError("rate must be positive")
    now = timezone.now()
    lease_until = _lease_until(now)
    claimed = claim_due_letters(limit=batch_size, now=now, lease_until=lease_until, message_type=message_type)
    stats: Counter[str] = Counter({"claimed": len(claimed)})
    if not claimed:
        return _stats(stats)
    runnable = _settle_lost_claims(claimed, lease_until)
    stats["exhausted"] += len(claimed) - len(runnable)
    allowed, stats["released"] = _apply_rate_limit(runnable, lease_until, rate)
    for result in _handle_claimed(allowed, lease_until, deadline=deadline, clock=clock):
        stats[result.outcome] += 1
    log.info("dead_letter_batch_replayed", **_stats(stats))
    return _stats(stats)


def _stats(stats: Counter[str]) -> dict[str, int]:
    keys = ("claimed", "resolved", "failed", "deferred", "exhausted", "released", "lost_lease")
    return {key: stats.get(key, 0) for key in keys}


def dead_letter_replay_due(
    *,
    batch_size: int,
    max_batches: int,
    message_type: str | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, int]:
    """Replay batches of due letters until none is left, ``max_batches`` ran, or ``deadline``.

    Also stops when the replay rate held a whole batch back (the next run picks those up).
    ``deadline`` is a ``clock()`` time, the caller's time budget: one deadline for the
    whole run, so a batch claimed late cannot outlive the task's time limit. Returns the
    summed counts of ``dead_letter_replay_batch`` and ``batches`` (those that claimed any).
    """
    totals: Counter[str] = Counter()
    batches = 0
    for _ in range(max_batches):
        if past_deadline(deadline, clock):
            log.info("dead_letter_replay_deadline_reached", batches=batches)
            break
        stats = dead_letter_replay_batch(
            batch_size=batch_size, message_type=message_type, deadline=deadline, clock=clock
        )
        if stats["claimed"] == 0:
            break
        batches += 1
        totals.update(stats)
        if stats["released"] == stats["claimed"]:
            break
    return {**_stats(totals), "batches": batches}


def _claim_for_operator(*, letter_id: int, now: datetime, lease_until: datetime) -> ClaimedLetter:
    with transaction.atomic():
        letter = (
            DeadLetter.objects.select_for_update()
            .filter(operator_actionable(now=now), pk=letter_id)
            .only("id", "message_type", "payload", "attempts", "max_retries")
            .first()
        )
        if letter is None:
            status = DeadLetter.objects.filter(pk=letter_id).values_list("status", flat=True).first()
            if status is None:
                raise DeadLetterNotFound(letter_id)
            raise DeadLetterStateError(letter_id, status, "replay")
        DeadLetter.objects.filter(pk=letter_id).update(
            status=DeadLetterStatus.RETRYING, next_retry_at=lease_until, attempts=letter.attempts + 1, updated_at=now
        )
    return ClaimedLetter(letter.id, letter.message_type, letter.payload, letter.attempts + 1, letter.max_retries, False)


def dead_letter_replay(*, letter_id: int, actor: Any = None, channel: str = SYSTEM) -> ReplayResult:
    """Replay one letter now, whatever its ``next_retry_at``: an operator's "try again".

    Letters ``operator_actionable`` may be replayed (an exhausted one gets one more
    attempt); others may not (``DeadLetterStateError``). Unknown id:
    ``DeadLetterNotFound``. Outside the ``system`` channel an audit record is written.
    """
    try:
        letter_id = int(letter_id)
    except (TypeError, ValueError):
        raise DeadLetterNotFound(str(letter_id)) from None
    now = timezone.now()
    lease_until = _lease_until(now)
    letter = _claim_for_operator(letter_id=letter_id, now=now, lease_until=lease_until)
    (result,) = _handle_claimed([letter], lease_until)
    if channel != SYSTEM:
        audit_record(
            actor=actor,
            channel=channel,
            action="dead_letter.replay",
            target_type="dead_letter",
            target_id=letter_id,
            detail={"outcome": result.outcome, "status": result.status, "error_class": result.error_class},
        )
    return result
