"""Processing a stored Green API event, in a Celery task after the webhook's commit.

An incoming text message: sentiment (``messaging.sentiment``: DeepSeek, or the local
fallback, marked degraded), then the triggers, then at most one reply, written to the
outbox in the same transaction that marks the event processed. That transaction starts
by moving the event out of ``pending`` with a conditional UPDATE that must change one
row, so a redelivered or duplicated task writes nothing; the reply's idempotency key
(``inbound:<event>:trigger:<trigger>``) is a second guard. Sentiment and matching run
before the transaction: no lock is held during a network call.

The degradation gates decide what runs now (``DEGRADATION_FEATURES``): sentiment asks
DeepSeek only while ``ai_sentiment`` is allowed (from minor on the local fallback answers
without a request). An event is *held* (status ``held``, nothing else written) while
``webhook_processing`` is off (critical), and an incoming text also while
``auto_replies`` is off (severe and up): such a text is processed whole or not at all, so
when the level drops the release processes it as if it had just arrived (sentiment,
triggers, cooldown, reply) and no reply is lost or written twice.

Status webhooks move outbox rows forward (``delivery.outbound_status_apply``), echoes of
our own sends settle unknown rows (``reconcile``), instance events are recorded
(``instance``). At most one trigger replies to a message: the highest priority one that
matches and whose cooldown for the chat has passed.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.db import DatabaseError, transaction
from django.utils import timezone

from messaging import metrics
from messaging.clients.errors import InvalidRequest
from messaging.models import OutboundMessage, ProcessingStatus, SentimentResult, Trigger, WebhookEvent, WebhookType
from messaging.selectors import trigger_candidates
from messaging.sentiment import sentiment_analyze
from messaging.services.delivery import outbound_status_apply
from messaging.services.events import webhook_event_acts_on
from messaging.services.instance import instance_event_record
from messaging.services.outbox import outbound_create
from messaging.services.reconcile import outbound_settle_from_webhook
from messaging.services.triggers import trigger_claim_cooldown, trigger_render, triggers_matching
from reliability.degradation.gates import allows, allows_now
from reliability.redaction import redact_text

log = structlog.get_logger(__name__)

# Statuses a task may (re)process: pending, held (released, or a stray task once the gates
# allow it) and failed (a dead letter's replay).
OPEN = (ProcessingStatus.PENDING, ProcessingStatus.HELD, ProcessingStatus.FAILED)


def webhook_event_process(*, event_id: int) -> str:
    """Process one stored event; returns what happened (``skipped`` when it is not open)."""
    event = WebhookEvent.objects.filter(pk=event_id).first()
    if event is None:
        log.warning("webhook_event_missing", event_id=event_id)
        return "missing"
    if event.processing_status not in OPEN:
        return "skipped"
    if not webhook_event_acts_on(type_webhook=event.type_webhook, text=event.text):
        _finish(event.pk, ProcessingStatus.IGNORED)
        return "ignored"
    gate = _closed_gate(event)
    if gate is not None:
        _hold(event.pk, gate)
        return "held"
    try:
        return _HANDLERS[event.type_webhook](event)
    except Exception as exc:
        _record_failure(event.pk, exc)
        raise


def _closed_gate(event: WebhookEvent) -> str | None:
    """The degradation gate that holds this event back now, or None when it may be processed."""
    if not allows_now("webhook_processing"):
        return "webhook_processing"
    if event.type_webhook == WebhookType.INCOMING_MESSAGE and not allows_now("auto_replies"):
        return "auto_replies"
    return None


def _hold(event_id: int, gate: str) -> None:
    held = WebhookEvent.objects.filter(
        pk=event_id, processing_status__in=(ProcessingStatus.PENDING, ProcessingStatus.FAILED)
    ).update(processing_status=ProcessingStatus.HELD, processing_error="")
    if held:
        log.info("inbound_held", event_id=event_id, gate=gate)


def _finish(event_id: int, status: str = ProcessingStatus.PROCESSED) -> bool:
    """Move the event out of pending/failed; False when another task already did."""
    moved = WebhookEvent.objects.filter(pk=event_id, processing_status__in=OPEN).update(
        processing_status=status, processed_at=timezone.now(), processing_error=""
    )
    return moved == 1


def _record_failure(event_id: int, error: BaseException) -> None:
    try:
        WebhookEvent.objects.filter(pk=event_id, processing_status__in=OPEN).update(
            processing_status=ProcessingStatus.FAILED,
            processing_error=redact_text(f"{type(error).__name__}: {error}")[:2000],
        )
    except DatabaseError:
        pass  # the database is the failure; the task's retry or dead letter keeps the work


# --- incoming text messages -----------------------------------------------------------


def _process_incoming(event: WebhookEvent) -> str:
    sentiment = sentiment_analyze(text=event.text, allow_ai=allows("ai_sentiment"))
    matching = triggers_matching(
        rules=trigger_candidates(), text=event.text, chat_id=event.chat_id, sentiment_label=sentiment.label
    )
    with transaction.atomic():
        if not _finish(event.pk):
            return "skipped"
        SentimentResult.objects.create(
            inbound=event,
            label=sentiment.label,
            score=sentiment.score,
            source=sentiment.source,
            model=sentiment.model[:100],
            latency_ms=sentiment.latency_ms,
            degraded=sentiment.degraded,
            error_class=sentiment.error_class[:200],
        )
        reply = _reply(event, matching, sentiment.label)
    metrics.sentiment_results.labels(source=sentiment.source).inc()
    log.info(
        "inbound_processed",
        event_id=event.pk,
        sentiment=sentiment.label,
        sentiment_source=sentiment.source,
        trigger_id=reply.trigger_id if reply else None,
        outbound_id=reply.pk if reply else None,
    )
    return "replied" if reply else "processed"


def _reply(event: WebhookEvent, matching: list[Trigger], label: str) -> OutboundMessage | None:
    values = {"sender_name": event.sender_name, "text": event.text, "chat_id": event.chat_id, "sentiment": label}
    now = timezone.now()
    for trigger in matching:
        text = trigger_render(template=trigger.reply_template, values=values)
        if not text.strip():
            continue  # a template of placeholders that all rendered empty: nothing to send
        if not trigger_claim_cooldown(trigger=trigger, chat_id=event.chat_id, inbound=event, now=now):
            continue
        try:
            return outbound_create(
                chat_id=event.chat_id,
                text=text,
                inbound=event,
                trigger=trigger,
                idempotency_key=f"inbound:{event.pk}:trigger:{trigger.pk}",
            )
        except InvalidRequest as exc:  # a chat Green API cannot send to; the next trigger cannot either
            log.warning("trigger_reply_refused", event_id=event.pk, trigger_id=trigger.pk, reason=str(exc))
            return None
    return None


# --- everything else we act on --------------------------------------------------------


def _process_status(event: WebhookEvent) -> str:
    body: dict[str, Any] = event.payload if isinstance(event.payload, dict) else {}
    description = body.get("description")
    outcome = outbound_status_apply(
        chat_id=event.chat_id,
        id_message=event.id_message,
        status=event.message_status,
        description=description if isinstance(description, str) else "",
        at=event.occurred_at,
    )
    _finish(event.pk)
    return outcome


def _process_api_echo(event: WebhookEvent) -> str:
    outcome = outbound_settle_from_webhook(event=event)
    _finish(event.pk)
    return outcome


def _process_instance(event: WebhookEvent) -> str:
    with transaction.atomic():
        instance_event_record(event=event)
        _finish(event.pk)
    return "recorded"


_HANDLERS = {
    WebhookType.INCOMING_MESSAGE: _process_incoming,
    WebhookType.OUTGOING_MESSAGE_STATUS: _process_status,
    WebhookType.OUTGOING_API_MESSAGE: _process_api_echo,
    WebhookType.STATE_INSTANCE_CHANGED: _process_instance,
    WebhookType.QUOTA_EXCEEDED: _process_instance,
}
