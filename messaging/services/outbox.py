"""The outbox: writing outbound rows, claiming them, sending them, recording the answer.

Every status change is a conditional UPDATE that names the status it leaves (and, for a
claimed row, the attempt number, which fences out a worker whose claim is no longer the
latest), so two workers, a redelivered task, a dead letter replay and the sweeper can
all race for a row and at most one of them moves it. The row table of
``messaging.models.outbound`` lists the edges.

Sending (``outbound_send``): claim (queued -> sending, attempts + 1), call Green API
outside any transaction, record:

| answer | row | the caller (task) |
|---|---|---|
| idMessage | sent; statuses that arrived before the answer are applied | done |
| breaker open | queued, the attempt refunded, due after ``retry_after`` | retry then |
| transient, attempts left | queued with backoff | Celery retry |
| transient, none left | failed | dead letter, whose replay sends again |
| rejected (4xx, 466 quota) | failed with the reason | dead letter, for an operator |
| ambiguous / anything unexpected | unknown | nothing: ``reconcile`` settles it |

Before the claim, the degradation gate: while ``outbound_sending`` is off (severe and up)
the row stays ``queued``, marked held (``held_at``): no attempt is spent, Green API is not
called, nothing is dead-lettered, and the WhatsApp fallback answers (counted in
``fallback_usage_total{service="green_api"}``, as is each send an open breaker defers).
The release sends held rows once sending is allowed again (``messaging.services.release``).

A row replayed from the dead letter queue (``outbound_replay``) gets one attempt; when it
is not sent it rests in ``failed`` again and the letter's recovery strategy decides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from messaging import metrics
from messaging.clients.errors import SendOutcomeUnknown
from messaging.clients.green_api import get_green_api_client
from messaging.clients.validation import chat_id_normalize, message_text_validate
from messaging.models import OutboundMessage, OutboundStatus, WebhookEvent
from messaging.models.outbound import LAST_ERROR_CHARS
from messaging.services.delivery import outbound_apply_stored_statuses
from messaging.services.dispatch import SEND_TASK, task_enqueue
from messaging.services.reconcile import outbound_settle_from_events
from reliability.degradation.fallbacks import fallback_service
from reliability.degradation.gates import allows_now
from reliability.errors import TRANSIENT_ERRORS, CircuitOpenError, PermanentError, RateLimited
from reliability.redaction import redact_text
from reliability.retry import RetryConfig

log = structlog.get_logger(__name__)

S = OutboundStatus
# A claim may run this much ahead of a row's next_attempt_at: the clocks of two workers differ.
_CLOCK_TOLERANCE = timedelta(seconds=1)
HELD_NOTE = "held: outbound sending is off at the current degradation level; it is sent when allowed again"


def _error_text(error: BaseException) -> str:
    return redact_text(f"{type(error).__name__}: {error}")[:LAST_ERROR_CHARS]


def _backoff(attempts: int) -> float:
    config = RetryConfig(
        max_retries=settings.OUTBOX_MAX_ATTEMPTS,
        base_delay=settings.OUTBOX_RETRY_BASE_SECONDS,
        max_delay=settings.OUTBOX_RETRY_MAX_SECONDS,
        jitter="equal",
    )
    return config.jittered(config.backoff(attempts), random.uniform)


# --- writing rows -------------------------------------------------------------------


def outbound_create(
    *,
    chat_id: str,
    text: str,
    inbound: WebhookEvent | None = None,
    trigger: Any = None,
    idempotency_key: str = "",
) -> OutboundMessage:
    """Write an outbox row and send it after commit; the same ``idempotency_key`` returns the first row.

    Call it inside the transaction of the change that causes the message, so that the
    row exists exactly when that change does. The recipient is normalised to a chatId and
    the text checked against Green API's limits first (``InvalidRequest`` otherwise), so
    reconciliation compares what Green API will echo.
    """
    chat_id = chat_id_normalize(chat_id)
    text = message_text_validate(text)
    if idempotency_key:
        existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    now = timezone.now()
    row = OutboundMessage(
        chat_id=chat_id,
        text=text,
        inbound=inbound,
        trigger=trigger,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
        queued_at=now,
    )
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        existing = OutboundMessage.objects.filter(idempotency_key=idempotency_key).first() if idempotency_key else None
        if existing is None:
            raise
        return existing
    transaction.on_commit(lambda: _created(row.pk))
    return row


def _created(outbound_id: int) -> None:
    metrics.outbound_transition("new", S.QUEUED)
    task_enqueue(task_name=SEND_TASK, args=[outbound_id])


def outbound_requeue(*, outbound_id: int, reason: str = "") -> bool:
    """A failed row back to queued (a dead letter replay, an operator's re-send); False when not failed."""
    now = timezone.now()
    moved = OutboundMessage.objects.filter(pk=outbound_id, status=S.FAILED).update(
        status=S.QUEUED, queued_at=now, next_attempt_at=None, failed_at=None, updated_at=now
    )
    if moved:
        metrics.outbound_transition(S.FAILED, S.QUEUED)
        log.info("outbound_requeued", outbound_id=outbound_id, reason=reason)
    return bool(moved)


# --- sending ------------------------------------------------------------------------


@dataclass(frozen=True)
class SendAttempt:
    """What one call of ``outbound_send`` did.

    ``outcome``: sent, retry (queued again, ``countdown`` s), deferred (breaker open,
    ``countdown`` s, no attempt spent), held (sending is off at the degradation level: no
    attempt, released later), rejected, exhausted, unknown, or skipped (the row was not
    claimable: ``status`` says why).
    """

    outbound_id: int
    outcome: str
    status: str
    countdown: float = 0.0
    error: BaseException | None = None


def _claim(outbound_id: int, now: datetime) -> OutboundMessage | None:
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + _CLOCK_TOLERANCE)
    claimed = OutboundMessage.objects.filter(due, pk=outbound_id, status=S.QUEUED).update(
        status=S.SENDING, attempts=F("attempts") + 1, sending_at=now, next_attempt_at=None, held_at=None, updated_at=now
    )
    if claimed != 1:
        return None
    metrics.outbound_transition(S.QUEUED, S.SENDING)
    return OutboundMessage.objects.select_related("inbound").get(pk=outbound_id)


def _move(row: OutboundMessage, *, to: str, from_statuses: tuple[str, ...] = (S.SENDING,), **fields: Any) -> bool:
    """Move the row this worker claimed; False when someone else moved it first."""
    now = timezone.now()
    moved = OutboundMessage.objects.filter(pk=row.pk, status__in=from_statuses, attempts=row.attempts).update(
        status=to, updated_at=now, **fields
    )
    if moved:
        metrics.outbound_transition(row.status, to)
    return bool(moved)


def outbound_send(*, outbound_id: int, in_dead_letter: bool = False) -> SendAttempt:
    """Claim the row, send it once, record the answer (see the module's table).

    ``in_dead_letter``: the call comes from a dead letter replay, which has no Celery
    retry behind it: a row that is not sent goes back to ``failed`` for the letter.
    """
    now = timezone.now()
    if not allows_now("outbound_sending"):
        return _hold(outbound_id) or _not_claimed(outbound_id, now)
    row = _claim(outbound_id, now)
    if row is None:
        return _not_claimed(outbound_id, now)
    try:
        with get_green_api_client() as client:
            id_message = client.send_message(row.chat_id, row.text)
    except CircuitOpenError as exc:
        return _deferred(row, exc, in_dead_letter=in_dead_letter)
    except SendOutcomeUnknown as exc:
        return _unknown(row, exc)
    except PermanentError as exc:
        return _failed(row, exc, outcome="rejected")
    except TRANSIENT_ERRORS as exc:
        if in_dead_letter or row.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            return _failed(row, exc, outcome="exhausted")
        return _retry(row, exc)
    except Exception as exc:  # noqa: BLE001 - after the claim the request may have left: never guess "not sent"
        log.exception("outbound_send_unexpected_error", outbound_id=row.pk)
        return _unknown(row, exc)
    if not isinstance(id_message, str) or not id_message:
        return _unknown(row, ValueError("sendMessage answered without an idMessage"))
    return _sent(row, id_message)


def _attempt(row: OutboundMessage, outcome: str, status: str, **extra: Any) -> SendAttempt:
    metrics.send_attempts.labels(outcome=outcome).inc()
    return SendAttempt(row.pk, outcome, status, **extra)


def _sent(row: OutboundMessage, id_message: str) -> SendAttempt:
    now = timezone.now()
    try:
        with transaction.atomic():
            moved = _move(
                row, to=S.SENT, from_statuses=(S.SENDING, S.UNKNOWN), id_message=id_message, sent_at=now, last_error=""
            )
    except IntegrityError:
        # Reconciliation gave this idMessage to another row of the same chat and text
        # while our answer was on its way; the answer is the better witness.
        moved = _take_id_message(row, id_message, now)
    if not moved:
        # Someone settled the row first: reconciliation with this very idMessage (harmless),
        # or, if it holds another one, a later attempt that should never have been made.
        current = OutboundMessage.objects.filter(pk=row.pk).values_list("id_message", flat=True).first()
        report = log.info if current == id_message else log.error
        report(
            "outbound_answer_after_settled", outbound_id=row.pk, attempts=row.attempts, same_id=current == id_message
        )
        return _attempt(row, "sent", S.SENT)
    if row.inbound is not None:
        metrics.reply_latency.observe(max((now - row.inbound.received_at).total_seconds(), 0.0))
    outbound_apply_stored_statuses(outbound_id=row.pk)
    log.info("outbound_sent", outbound_id=row.pk, attempts=row.attempts)
    return _attempt(row, "sent", S.SENT)


def _take_id_message(row: OutboundMessage, id_message: str, now: datetime) -> bool:
    with transaction.atomic():
        other = (
            OutboundMessage.objects.select_for_update()
            .filter(chat_id=row.chat_id, id_message=id_message)
            .exclude(pk=row.pk)
            .first()
        )
        if other is not None:
            OutboundMessage.objects.filter(pk=other.pk).update(
                status=S.UNKNOWN, id_message="", sent_at=None, updated_at=now,
                last_error=f"its idMessage {id_message} belongs to outbound #{row.pk}; reconciling again",
            )  # fmt: skip
            metrics.outbound_transition(other.status, S.UNKNOWN)
            log.warning("outbound_id_message_reassigned", outbound_id=row.pk, from_outbound_id=other.pk)
        return _move(
            row, to=S.SENT, from_statuses=(S.SENDING, S.UNKNOWN), id_message=id_message, sent_at=now, last_error=""
        )


def _hold(outbound_id: int) -> SendAttempt | None:
    """Keep a queued row in the outbox while sending is off; None when the row is not queued."""
    now = timezone.now()
    held = OutboundMessage.objects.filter(pk=outbound_id, status=S.QUEUED, held_at__isnull=True).update(
        held_at=now, last_error=HELD_NOTE, updated_at=now
    )
    if held:
        fallback_service.whatsapp_fallback({"id": outbound_id}, reason="not_allowed")
        log.info("outbound_held", outbound_id=outbound_id, gate="outbound_sending")
    elif not OutboundMessage.objects.filter(pk=outbound_id, status=S.QUEUED).exists():
        return None
    return SendAttempt(outbound_id, "held", S.QUEUED)


def _deferred(row: OutboundMessage, error: CircuitOpenError, *, in_dead_letter: bool) -> SendAttempt:
    wait = max(error.retry_after or 0.0, 1.0)
    now = timezone.now()
    rest = S.FAILED if in_dead_letter else S.QUEUED
    fields: dict[str, Any] = {"attempts": row.attempts - 1, "last_error": _error_text(error)}
    if rest == S.QUEUED:
        fields.update(next_attempt_at=now + timedelta(seconds=wait), queued_at=now)
    else:
        fields.update(failed_at=now)
    if _move(row, to=rest, **fields) and rest == S.QUEUED:
        fallback_service.whatsapp_fallback({"id": row.pk}, reason="circuit_open")
    return _attempt(row, "deferred", rest, countdown=wait, error=error)


def _retry(row: OutboundMessage, error: BaseException) -> SendAttempt:
    wait = _backoff(row.attempts)
    if isinstance(error, RateLimited) and error.retry_after is not None:
        wait = max(wait, error.retry_after)
    wait = min(wait, settings.CELERY_MAX_COUNTDOWN_SECONDS)
    now = timezone.now()
    _move(row, to=S.QUEUED, next_attempt_at=now + timedelta(seconds=wait), queued_at=now, last_error=_error_text(error))
    log.info("outbound_send_retry", outbound_id=row.pk, attempts=row.attempts, countdown=round(wait, 2))
    return _attempt(row, "retry", S.QUEUED, countdown=wait, error=error)


def _failed(row: OutboundMessage, error: BaseException, *, outcome: str) -> SendAttempt:
    reason = _error_text(error)
    if outcome == "exhausted":
        reason = f"not sent after {row.attempts} attempts; in the dead letter queue: {reason}"
    _move(row, to=S.FAILED, failed_at=timezone.now(), last_error=reason[:LAST_ERROR_CHARS])
    log.warning("outbound_send_failed", outbound_id=row.pk, outcome=outcome, error_class=type(error).__name__)
    return _attempt(row, outcome, S.FAILED, error=error)


def _unknown(row: OutboundMessage, error: BaseException) -> SendAttempt:
    moved = _move(
        row, to=S.UNKNOWN, last_error=f"outcome unknown, reconciling: {_error_text(error)}"[:LAST_ERROR_CHARS]
    )
    log.warning("outbound_send_outcome_unknown", outbound_id=row.pk, error_class=type(error).__name__)
    if moved:
        # The outgoingAPIMessageReceived webhook may have been stored before our answer timed out.
        outbound_settle_from_events(outbound_id=row.pk)
    return _attempt(row, "unknown", S.UNKNOWN, error=error)


def _not_claimed(outbound_id: int, now: datetime) -> SendAttempt:
    row = OutboundMessage.objects.filter(pk=outbound_id).only("id", "status", "sending_at", "attempts").first()
    if row is None:
        log.warning("outbound_missing", outbound_id=outbound_id)
        return SendAttempt(outbound_id, "skipped", "missing")
    stale_before = now - timedelta(seconds=settings.OUTBOX_SENDING_STALE_SECONDS)
    if row.status == S.SENDING and row.sending_at is not None and row.sending_at < stale_before:
        # A redelivered task after its worker died mid-send: the request may have left.
        outbound_mark_lost(outbound_id=row.pk, attempts=row.attempts)
        return SendAttempt(outbound_id, "skipped", S.UNKNOWN)
    return SendAttempt(outbound_id, "skipped", row.status)


def outbound_mark_lost(*, outbound_id: int, attempts: int) -> bool:
    """A ``sending`` row whose worker is gone becomes ``unknown``: it may have been sent."""
    moved = OutboundMessage.objects.filter(pk=outbound_id, status=S.SENDING, attempts=attempts).update(
        status=S.UNKNOWN, last_error="its worker was lost mid-send; reconciling", updated_at=timezone.now()
    )
    if moved:
        metrics.outbound_transition(S.SENDING, S.UNKNOWN)
        log.warning("outbound_send_lost", outbound_id=outbound_id)
        outbound_settle_from_events(outbound_id=outbound_id)
    return bool(moved)


def outbound_replay(*, outbound_id: int) -> SendAttempt:
    """A dead letter's replay: a failed row gets one more attempt through the same claim.

    A row already sent (or being sent, or being reconciled) is left alone: the claim
    refuses it, so replaying a letter twice never sends twice.
    """
    outbound_requeue(outbound_id=outbound_id, reason="dead letter replay")
    return outbound_send(outbound_id=outbound_id, in_dead_letter=True)
