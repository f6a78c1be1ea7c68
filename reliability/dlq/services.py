"""Dead letter services: add, replay (one, a batch, a bulk selection), discard, resolve, clean up.

Everything that writes a dead letter goes through here; the admin, the ops API, the
``dlq`` command and the Celery tasks are doors onto these functions. What is stored is
redacted first (payload, error message, traceback, history) with ``reliability.redaction``.

What happens after a failure is decided by ``reliability.dlq.strategies.recovery_plan``.

The seed's API sits on top: ``dlq_handler`` (``add_to_dlq``, ``get_dlq_messages``,
``retry_message``, ``process_dlq_batch``) and ``get_failed_message_processor()``.
"""

from __future__ import annotations

import json
import time
import traceback as traceback_module
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from reliability.audit import audit_record
from reliability.dlq.claim import ClaimedLetter, claim_due_letters, resolve_claimed
from reliability.dlq.classify import Failure, classify_failure, failure_fingerprint
from reliability.dlq.exceptions import DeadLetterNotFound, DeadLetterStateError
from reliability.dlq.metrics import dlq_messages_added, dlq_processing_duration, dlq_replays
from reliability.dlq.models import DeadLetter, DeadLetterAttempt, DeadLetterStatus, FailureKind
from reliability.dlq.ratelimit import replay_rate_limiter
from reliability.dlq.registry import get_handler
from reliability.dlq.selectors import SETTLED, dead_letter_get
from reliability.dlq.strategies import RecoveryPlan, recovery_plan
from reliability.redaction import redact, redact_text

log = structlog.get_logger(__name__)

# The channel of automatic work (beat jobs, captured tasks): it writes no audit record.
SYSTEM = "system"
Outcome = DeadLetterAttempt.Outcome
# What an operator may replay by hand: anything not settled and not held by a live claim.
_OPERATOR_REPLAYABLE = (DeadLetterStatus.PENDING, DeadLetterStatus.EXHAUSTED)
_SETTLEABLE = (DeadLetterStatus.PENDING, DeadLetterStatus.EXHAUSTED)
_TRACEBACK_LIMIT = 20_000
_MESSAGE_LIMIT = 4_000


# --- Adding ------------------------------------------------------------------------------


def _traceback_text(error: BaseException) -> str:
    return "".join(traceback_module.format_exception(type(error), error, error.__traceback__))


def _json_safe(value: Any) -> Any:
    # A payload that cannot be stored must not cost us the letter: unknown types become text.
    return json.loads(json.dumps(redact(value), default=str))


def dead_letter_add(
    *,
    message_type: str,
    payload: Any,
    error: BaseException,
    source: str = "",
    max_retries: int = 5,
    traceback_text: str | None = None,
    dedupe_key: str = "",
) -> DeadLetter:
    """Store a message that failed after its retries, redacted, with its first failure kept.

    The failure is classified at once: a permanent one is ``exhausted`` (no replay can
    help), any other is ``pending`` with ``next_retry_at`` from its recovery strategy.
    A ``dedupe_key`` already stored (the same task redelivered and failing again) adds
    to that letter's history and returns it: one failed message, one letter to replay.
    """
    if not message_type:
        raise ValueError("message_type is required")
    if max_retries < 0:
        raise ValueError("max_retries must be zero or more")
    now = timezone.now()
    failure = classify_failure(error)
    trace = redact_text(traceback_text if traceback_text is not None else _traceback_text(error))[-_TRACEBACK_LIMIT:]
    message = failure.message[:_MESSAGE_LIMIT]
    plan = recovery_plan(failure=failure, attempts=0, max_retries=max_retries, now=now)
    if dedupe_key:
        existing = _add_to_existing(dedupe_key=dedupe_key, failure=failure, message=message)
        if existing is not None:
            return existing
    try:
        letter = _create_letter(
            message_type=message_type,
            payload=payload,
            source=source,
            failure=failure,
            message=message,
            trace=trace,
            plan=plan,
            max_retries=max_retries,
            dedupe_key=dedupe_key,
            now=now,
        )
    except IntegrityError:
        # A concurrent capture of the same work won the insert.
        existing = _add_to_existing(dedupe_key=dedupe_key, failure=failure, message=message)
        if existing is None:
            raise
        return existing
    dlq_messages_added.labels(message_type=message_type).inc()
    log.warning(
        "dead_letter_added",
        letter_id=letter.pk,
        message_type=message_type,
        source=letter.source,
        error_class=failure.error_class,
        failure_kind=failure.kind.value,
        status=plan.status,
    )
    return letter


def _add_to_existing(*, dedupe_key: str, failure: Failure, message: str) -> DeadLetter | None:
    letter = DeadLetter.objects.filter(dedupe_key=dedupe_key).first()
    if letter is None:
        return None
    DeadLetterAttempt.objects.create(
        letter=letter,
        error_class=failure.error_class[:200],
        reason=f"captured again (redelivered): {message}",
        failure_kind=failure.kind,
        outcome=DeadLetterAttempt.Outcome.FAILED,
    )
    log.warning("dead_letter_capture_repeated", letter_id=letter.pk, dedupe_key=dedupe_key)
    return letter


def _create_letter(
    *,
    message_type: str,
    payload: Any,
    source: str,
    failure: Failure,
    message: str,
    trace: str,
    plan: RecoveryPlan,
    max_retries: int,
    dedupe_key: str,
    now: datetime,
) -> DeadLetter:
    with transaction.atomic():
        letter = DeadLetter.objects.create(
            dedupe_key=dedupe_key[:255],
            message_type=message_type,
            payload=_json_safe(payload),
            source=redact_text(source)[:200],
            error_class=failure.error_class[:200],
            error_message=message,
            traceback=trace,
            fingerprint=failure_fingerprint(
                message_type=message_type, error_class=failure.error_class, message=message
            ),
            failure_kind=failure.kind,
            breaker_name=failure.breaker_name[:64],
            first_error={
                "error_class": failure.error_class,
                "message": message,
                "traceback": trace,
                "failure_kind": failure.kind.value,
                "http_status": failure.http_status,
                "at": now.isoformat(),
            },
            status=plan.status,
            attempts=0,
            max_retries=max_retries,
            next_retry_at=plan.next_retry_at,
        )
        DeadLetterAttempt.objects.create(
            letter=letter,
            error_class=failure.error_class[:200],
            reason=message,
            failure_kind=failure.kind,
            outcome=plan.outcome,
        )
    return letter


# --- Replaying ---------------------------------------------------------------------------


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


def _handle_claimed(letters: Sequence[ClaimedLetter], lease_until: datetime) -> list[ReplayResult]:
    """Run each letter's handler outside any transaction; successes are written in one go.

    A handler never starts on a letter whose lease is about to run out (a slow batch
    run outside Celery's time limit): another worker could reclaim it mid-run. Those
    letters are given back instead.
    """
    results: list[ReplayResult] = []
    succeeded: list[ClaimedLetter] = []
    stop_at = lease_until - timedelta(seconds=settings.DLQ_CLAIM_LEASE_SECONDS / 4)
    for index, letter in enumerate(letters):
        if timezone.now() >= stop_at:
            rest = letters[index:]
            _release(rest, lease_until, wait=0.0)
            results.extend(ReplayResult(r.id, "released", DeadLetterStatus.PENDING) for r in rest)
            log.warning("dead_letter_batch_lease_short", released=len(rest))
            break
        error = _run_handler(letter.message_type, letter.payload)
        if error is None:
            succeeded.append(letter)
        else:
            results.append(_record_failure(letter=letter, lease_until=lease_until, error=error))
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
    *, batch_size: int = 100, message_type: str | None = None, rate: float | None = None
) -> dict[str, int]:
    """Claim up to ``batch_size`` due letters and replay them; safe to run in many workers at once.

    ``rate`` (letters per second per type) overrides ``DLQ_REPLAY_RATE_PER_TYPE``. Returns
    counts: claimed, resolved, failed, deferred, exhausted, released (over the rate, put
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
    for result in _handle_claimed(allowed, lease_until):
        stats[result.outcome] += 1
    log.info("dead_letter_batch_replayed", **_stats(stats))
    return _stats(stats)


def _stats(stats: Counter[str]) -> dict[str, int]:
    keys = ("claimed", "resolved", "failed", "deferred", "exhausted", "released", "lost_lease")
    return {key: stats.get(key, 0) for key in keys}


def _claim_for_operator(*, letter_id: int, now: datetime, lease_until: datetime) -> ClaimedLetter:
    with transaction.atomic():
        letter = (
            DeadLetter.objects.select_for_update()
            .filter(pk=letter_id)
            .only("id", "status", "next_retry_at", "message_type", "payload", "attempts", "max_retries")
            .first()
        )
        if letter is None:
            raise DeadLetterNotFound(letter_id)
        expired_claim = letter.status == DeadLetterStatus.RETRYING and letter.next_retry_at <= now
        if letter.status not in _OPERATOR_REPLAYABLE and not expired_claim:
            raise DeadLetterStateError(letter_id, letter.status, "replay")
        DeadLetter.objects.filter(pk=letter_id).update(
            status=DeadLetterStatus.RETRYING, next_retry_at=lease_until, attempts=letter.attempts + 1, updated_at=now
        )
    return ClaimedLetter(letter.id, letter.message_type, letter.payload, letter.attempts + 1, letter.max_retries, False)


def dead_letter_replay(*, letter_id: int, actor: Any = None, channel: str = SYSTEM) -> ReplayResult:
    """Replay one letter now, whatever its ``next_retry_at``: an operator's "try again".

    Pending and exhausted letters may be replayed (an exhausted one gets one more
    attempt); resolved, discarded and letters held by a live claim may not
    (``DeadLetterStateError``). Unknown id: ``DeadLetterNotFound``. Outside the
    ``system`` channel an audit record is written.
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


# --- Bulk operator actions -----------------------------------------------------------------


@dataclass
class BulkResult:
    """The outcome of a bulk action on an explicit snapshot of ids.

    ``planned`` maps each id to what was (or, in a dry run, would be) done: ``replay``,
    ``discard``, ``resolve`` or ``skip: <status>``. ``failed`` lists the ids that were
    skipped or whose replay did not resolve them.
    """

    action: str
    dry_run: bool
    letter_ids: list[int]
    planned: dict[int, str]
    results: list[ReplayResult] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many letters the action applies to (skipped ones excluded)."""
        return sum(1 for plan in self.planned.values() if not plan.startswith("skip"))

    @property
    def skipped(self) -> list[int]:
        return [i for i, plan in self.planned.items() if plan.startswith("skip")]

    @property
    def failed(self) -> list[int]:
        return self.skipped + [r.letter_id for r in self.results if self.action == "replay" and not r.resolved]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "count": self.count,
            "letter_ids": self.letter_ids,
            "planned": {str(i): plan for i, plan in self.planned.items()},
            "skipped": self.skipped,
            "failed": self.failed,
            "results": [{"id": r.letter_id, "outcome": r.outcome, "status": r.status} for r in self.results],
        }


def _snapshot(letter_ids: Iterable[int]) -> tuple[list[int], dict[int, tuple[str, str, datetime | None]]]:
    ids = list(dict.fromkeys(int(i) for i in letter_ids))
    if not ids:
        raise ValueError("no dead letter ids given")
    rows = DeadLetter.objects.filter(id__in=ids).values_list("id", "status", "message_type", "next_retry_at")
    found = {row[0]: row[1:] for row in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise DeadLetterNotFound(missing)
    return ids, found


def dead_letter_replay_many(
    *,
    letter_ids: Iterable[int],
    actor: Any = None,
    channel: str = SYSTEM,
    dry_run: bool = False,
    rate: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BulkResult:
    """Replay an explicit list of letters, at most ``rate`` per second per type.

    Unknown ids refuse the whole action (``DeadLetterNotFound``) before anything runs;
    letters in a state that cannot be replayed are skipped and reported.
    """
    ids, found = _snapshot(letter_ids)
    now = timezone.now()
    planned = {}
    for i in ids:
        status, _, next_retry_at = found[i]
        live_claim = status == DeadLetterStatus.RETRYING and next_retry_at is not None and next_retry_at > now
        replayable = status in _OPERATOR_REPLAYABLE or (status == DeadLetterStatus.RETRYING and not live_claim)
        planned[i] = "replay" if replayable else f"skip: {status}"
    result = BulkResult("replay", dry_run, ids, planned)
    if dry_run:
        return result
    rate = rate if rate is not None else settings.DLQ_REPLAY_RATE_PER_TYPE
    limiter = replay_rate_limiter()
    for i in ids:
        if planned[i] != "replay":
            continue
        while (grant := limiter.take(found[i][1], 1, rate)).granted == 0:
            sleep(grant.wait)
        try:
            result.results.append(dead_letter_replay(letter_id=i, actor=actor, channel=channel))
        except DeadLetterStateError as exc:
            planned[i] = f"skip: {exc.status}"  # changed state since the snapshot
    return result


def _settle(
    *,
    action: str,
    status: str,
    letter_ids: Iterable[int],
    reason: str,
    actor: Any,
    channel: str,
    dry_run: bool,
) -> BulkResult:
    ids, found = _snapshot(letter_ids)
    planned = {i: action if found[i][0] in _SETTLEABLE else f"skip: {found[i][0]}" for i in ids}
    result = BulkResult(action, dry_run, ids, planned)
    if dry_run:
        return result
    user = actor if getattr(actor, "is_authenticated", False) else None
    now = timezone.now()
    with transaction.atomic():
        eligible = [i for i in ids if planned[i] == action]
        locked = set(
            DeadLetter.objects.select_for_update()
            .filter(id__in=eligible, status__in=_SETTLEABLE)
            .values_list("id", flat=True)
        )
        DeadLetter.objects.filter(id__in=locked).update(
            status=status, next_retry_at=None, settled_at=now, settled_by=user, settled_reason=reason, updated_at=now
        )
        for i in ids:
            if planned[i] == action and i not in locked:
                planned[i] = "skip: changed since the snapshot"
            elif i in locked and channel != SYSTEM:
                audit_record(
                    actor=actor,
                    channel=channel,
                    action=f"dead_letter.{action}",
                    target_type="dead_letter",
                    target_id=i,
                    reason=reason,
                    detail={"previous_status": found[i][0]},
                )
    log.info(f"dead_letters_{action}ed", count=len(locked), skipped=len(ids) - len(locked), channel=channel)
    return result


def dead_letter_discard(
    *, letter_ids: Iterable[int], reason: str, actor: Any = None, channel: str = SYSTEM, dry_run: bool = False
) -> BulkResult:
    """Give up on letters (pending or exhausted) for good; ``reason`` is required (``ValueError``)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a reason is required to discard dead letters")
    return _settle(
        action="discard",
        status=DeadLetterStatus.DISCARDED,
        letter_ids=letter_ids,
        reason=reason,
        actor=actor,
        channel=channel,
        dry_run=dry_run,
    )


def dead_letter_resolve(
    *, letter_ids: Iterable[int], reason: str = "", actor: Any = None, channel: str = SYSTEM, dry_run: bool = False
) -> BulkResult:
    """Mark letters resolved by hand (the work was done another way)."""
    return _settle(
        action="resolve",
        status=DeadLetterStatus.RESOLVED,
        letter_ids=letter_ids,
        reason=(reason or "").strip() or "resolved by an operator",
        actor=actor,
        channel=channel,
        dry_run=dry_run,
    )


# --- Maintenance -------------------------------------------------------------------------


def dead_letter_cleanup(*, older_than_days: int | None = None, chunk_size: int = 1000) -> int:
    """Delete resolved and discarded letters settled more than the retention ago; never open ones.

    Deletes in chunks so no transaction holds many rows. Returns how many letters went.
    """
    days = older_than_days if older_than_days is not None else settings.DLQ_RETENTION_DAYS
    if days < 0:
        raise ValueError("older_than_days must be zero or more")
    cutoff = timezone.now() - timedelta(days=days)
    old = DeadLetter.objects.filter(status__in=SETTLED).filter(
        Q(settled_at__lt=cutoff) | Q(settled_at__isnull=True, updated_at__lt=cutoff)
    )
    deleted = 0
    while ids := list(old.order_by("id").values_list("id", flat=True)[:chunk_size]):
        with transaction.atomic():
            DeadLetterAttempt.objects.filter(letter_id__in=ids).delete()
            deleted += (
                DeadLetter.objects.filter(id__in=ids, status__in=SETTLED).delete()[1].get(DeadLetter._meta.label, 0)
            )
    log.info("dead_letters_cleaned_up", deleted=deleted, older_than_days=days)
    return deleted


# --- The seed's API -------------------------------------------------------------------------


class DeadLetterQueueHandler:
    """The seed's ``dlq_handler``: a thin, synchronous face over the services above."""

    def add_to_dlq(
        self,
        message_data: Any,
        error: BaseException,
        message_type: str,
        max_retries: int = 5,
        source: str = "",
    ) -> int:
        """Store a failed message; returns the letter's id."""
        return dead_letter_add(
            message_type=message_type, payload=message_data, error=error, source=source, max_retries=max_retries
        ).pk

    def get_dlq_messages(
        self, limit: int = 100, status: str | None = None, message_type: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest letters as dicts, optionally by status and type."""
        from reliability.dlq.selectors import dead_letter_list, dead_letter_to_dict

        letters = dead_letter_list(status=status, message_type=message_type).select_related("settled_by")[:limit]
        return [dead_letter_to_dict(letter) for letter in letters]

    def get_dlq_message(self, message_id: int) -> dict[str, Any]:
        from reliability.dlq.selectors import dead_letter_to_dict

        return dead_letter_to_dict(dead_letter_get(letter_id=message_id), with_history=True)

    def retry_message(self, message_id: int, actor: Any = None, channel: str = SYSTEM) -> bool:
        """Replay one letter now; True when it was resolved."""
        return dead_letter_replay(letter_id=message_id, actor=actor, channel=channel).resolved

    def process_dlq_batch(self, batch_size: int = 10) -> dict[str, int]:
        """Replay one batch of due letters with the recovery strategies."""
        return dead_letter_replay_batch(batch_size=batch_size)


class FailedMessageProcessor:
    """The seed's strategy processor: the same claim-and-replay, strategies by failure kind."""

    def process_dlq_with_strategies(self, batch_size: int = 20, message_type: str | None = None) -> dict[str, int]:
        return dead_letter_replay_batch(batch_size=batch_size, message_type=message_type)


dlq_handler = DeadLetterQueueHandler()
_processor = FailedMessageProcessor()


def get_failed_message_processor() -> FailedMessageProcessor:
    return _processor
