"""Ingest: one Green API event in (webhook body or polled notification), stored once.

The webhook view and ``green_api_poll`` both call ``webhook_event_ingest``; nothing else
writes ``WebhookEvent`` rows. The path is kept to one statement: an ``INSERT ... ON
CONFLICT DO NOTHING RETURNING id``. A duplicate (the same natural key, see the model's
constraints) inserts nothing and returns nothing, so two identical deliveries at the
same moment store one row and no error is raised or logged by the database; any other
constraint still raises. Events we act on are handed to Celery after commit; the rest
are stored as ``ignored``. While the degradation level forbids webhook processing
(critical) an event we act on is stored ``held`` and not handed on: the release runs it
when the level drops (``messaging.services.release``).

What is refused, and why (``WebhookRejected`` carries the HTTP status):

- 400: not JSON, not UTF-8, not an object, nested deeper than ``MAX_DEPTH``, NaN or
  Infinity (PostgreSQL's jsonb cannot hold them), a field we read with the wrong type
  or an id longer than a column;
- 403: ``instanceData.idInstance`` is not ours (``GREEN_API_ID_INSTANCE``): nothing stored.

NUL characters are removed from every string and key (PostgreSQL text and jsonb cannot
hold U+0000; WhatsApp text never needs one), and lone UTF-16 surrogates become U+FFFD:
the event is kept rather than refused, because a refused event is redelivered by Green
API for a day and then lost.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config.input_guard import MAX_JSON_DEPTH as MAX_DEPTH
from config.input_guard import json_loads_finite
from messaging import metrics
from messaging.models import MESSAGE_TYPES, ProcessingStatus, ReceivedVia, WebhookEvent, WebhookType
from messaging.payloads import WebhookBody, message_text
from messaging.services.dispatch import PROCESS_TASK, task_enqueue
from messaging.services.events import webhook_event_acts_on
from reliability.degradation.gates import allows_now

log = structlog.get_logger(__name__)

_ID_CHARS = 255


class WebhookRejected(Exception):
    """An event that cannot be stored; ``status`` is the HTTP answer, ``outcome`` the metric label."""

    def __init__(self, status: int, message: str, outcome: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.outcome = outcome


def _invalid(message: str) -> WebhookRejected:
    return WebhookRejected(400, message, "invalid")


@dataclass(frozen=True)
class IngestResult:
    outcome: str  # "stored" or "duplicate"
    type_webhook: str
    event_id: int | None = None


# --- parsing and cleaning -----------------------------------------------------------


def webhook_body_parse(*, raw: bytes) -> dict[str, Any]:
    """The JSON object in ``raw``; ``WebhookRejected`` (400) with a readable reason otherwise.

    The API's ``config.input_guard.json_loads_strict`` refuses NUL; a webhook must not (see
    the module's docstring): it is parsed by ``json_loads_finite`` (no NaN, Infinity or
    ``1e999``) and cleaned here, to the same depth limit.
    """
    try:
        return _parse_object(raw)
    except WebhookRejected as exc:
        webhook_refusal_count(outcome=exc.outcome)
        raise


def _parse_object(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _invalid("the body is not UTF-8") from None
    try:
        body = json_loads_finite(text)
    except ValueError as exc:  # JSONDecodeError, UnsafeJSON
        raise _invalid(f"not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _invalid("the body must be a JSON object")
    return body


def _clean_text(text: str) -> str:
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate ("\ud800") that UTF-8 cannot encode
            text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            raise _invalid(f"JSON nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            return {_clean_text(str(key)): _clean(item, depth + 1) for key, item in value.items()}
        return [_clean(item, depth + 1) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid("NaN and Infinity are not JSON numbers")
    return value


# --- reading the fields -------------------------------------------------------------


def _string(container: dict[str, Any], key: str, path: str, *, limit: int | None = _ID_CHARS) -> str:
    value = container.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(f"{path} must be a string")
    if limit is not None and len(value) > limit:
        raise _invalid(f"{path} is longer than {limit} characters")
    return value


def _object(container: dict[str, Any], key: str) -> dict[str, Any]:
    value = container.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"{key} must be an object")
    return value


def _check_instance(body: WebhookBody) -> None:
    instance = body.get("instanceData")
    presented = instance.get("idInstance") if isinstance(instance, dict) else None
    ours = str(settings.GREEN_API_ID_INSTANCE or "")
    matches = (isinstance(presented, int) and not isinstance(presented, bool) and str(presented) == ours) or (
        isinstance(presented, str) and presented == ours
    )
    if not ours or not matches:
        raise WebhookRejected(403, "instanceData.idInstance is not this service's Green API instance", "forbidden")


def _occurred_at(body: WebhookBody) -> datetime | None:
    value = body.get("timestamp")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid("timestamp must be a number (UNIX seconds)")
    if not 0 <= value < 10**11:
        raise _invalid("timestamp is out of range")
    return datetime.fromtimestamp(value, tz=UTC)


def _body_sha256(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _event(body: WebhookBody, via: str) -> WebhookEvent:
    type_webhook = body.get("typeWebhook")
    if not isinstance(type_webhook, str) or not type_webhook:
        raise _invalid("typeWebhook is missing: not a Green API notification")
    if len(type_webhook) > 64:
        raise _invalid("typeWebhook is longer than 64 characters")
    _check_instance(body)
    sender = _object(body, "senderData")
    chat_id = _string(sender, "chatId", "senderData.chatId") or _string(body, "chatId", "chatId")
    id_message = _string(body, "idMessage", "idMessage")
    type_message, text = message_text(body.get("messageData"))
    event = WebhookEvent(
        type_webhook=type_webhook,
        chat_id=chat_id,
        sender=_string(sender, "sender", "senderData.sender"),
        sender_name=(
            _string(sender, "senderName", "senderData.senderName", limit=None)
            or _string(sender, "chatName", "senderData.chatName", limit=None)
        )[:255],
        id_message=id_message,
        type_message=type_message[:64],
        text=text,
        message_status=_string(body, "status", "status", limit=32)
        if type_webhook == WebhookType.OUTGOING_MESSAGE_STATUS
        else "",
        occurred_at=_occurred_at(body),
        payload=body,
        received_via=via,
        received_at=timezone.now(),
    )
    natural_key = type_webhook in MESSAGE_TYPES or type_webhook == WebhookType.OUTGOING_MESSAGE_STATUS
    if not (natural_key and id_message):
        event.body_sha256 = _body_sha256(body)
    if not webhook_event_acts_on(type_webhook=event.type_webhook, text=event.text):
        event.processing_status = ProcessingStatus.IGNORED
        event.processed_at = event.received_at
    return event


# --- storing ------------------------------------------------------------------------


@cache
def _insert_sql() -> tuple[str, tuple[Any, ...]]:
    meta = WebhookEvent._meta
    fields = tuple(field for field in meta.concrete_fields if not field.primary_key)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "
        f"ON CONFLICT DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields


def _insert_once(event: WebhookEvent) -> int | None:
    sql, fields = _insert_sql()
    values = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    return row[0] if row else None


def webhook_event_ingest(*, body: dict[str, Any], via: str = ReceivedVia.WEBHOOK) -> IngestResult:
    """Store one Green API event once; process it after commit when it is one we act on.

    Raises ``WebhookRejected`` for what cannot be stored (nothing is written then). A
    database error propagates: the caller answers 503 (webhook) or keeps the
    notification (poll), and Green API delivers it again.
    """
    try:
        event = _event(_clean(body), via)
    except WebhookRejected as exc:
        type_webhook = body.get("typeWebhook")
        webhook_refusal_count(outcome=exc.outcome, type_webhook=type_webhook if isinstance(type_webhook, str) else "")
        raise
    if event.processing_status == ProcessingStatus.PENDING and not allows_now("webhook_processing"):
        event.processing_status = ProcessingStatus.HELD
    event_id = _insert_once(event)
    label = metrics.webhook_type_label(event.type_webhook)
    if event_id is None:
        metrics.webhooks_received.labels(type_webhook=label, outcome="duplicate").inc()
        log.info("webhook_event_duplicate", type_webhook=event.type_webhook, id_message=event.id_message)
        return IngestResult("duplicate", event.type_webhook)
    metrics.webhooks_received.labels(type_webhook=label, outcome="stored").inc()
    if event.processing_status == ProcessingStatus.PENDING:
        transaction.on_commit(lambda: task_enqueue(task_name=PROCESS_TASK, args=[event_id]))
    elif event.processing_status == ProcessingStatus.HELD:
        log.info("inbound_held", event_id=event_id, gate="webhook_processing")
    return IngestResult("stored", event.type_webhook, event_id)


def webhook_refusal_count(*, outcome: str, type_webhook: str = "") -> None:
    """Count an event refused (bad token, too large, invalid, foreign instance) by its type when known."""
    label = metrics.webhook_type_label(type_webhook) if type_webhook else "unknown"
    metrics.webhooks_received.labels(type_webhook=label, outcome=outcome).inc()


# --- polling (receiveNotification) ------------------------------------------------------


@dataclass(frozen=True)
class NotificationResult:
    receipt_id: int
    outcome: str  # stored, duplicate, or refused (an event that can never be stored)
    type_webhook: str = ""
    reason: str = ""


def notification_ingest(*, notification: Any) -> NotificationResult:
    """Store one ``receiveNotification`` answer through the webhook's ingest; the caller deletes it after.

    An event that can never be stored (a body that is not a Green API event) is
    ``refused``: deleting it is the only way past it, since Green API hands out the oldest
    notification first. An event of another instance raises ``WebhookRejected`` (403): the
    settings are wrong, and the notification is kept for when they are fixed.
    """
    receipt_id = notification.get("receiptId") if isinstance(notification, dict) else None
    body = notification.get("body") if isinstance(notification, dict) else None
    if isinstance(receipt_id, bool) or not isinstance(receipt_id, int):
        raise ValueError("receiveNotification answered without a receiptId")
    if not isinstance(body, dict):
        return NotificationResult(receipt_id, "refused", reason="the notification has no body object")
    try:
        result = webhook_event_ingest(body=body, via=ReceivedVia.POLL)
    except WebhookRejected as exc:
        if exc.status == 403:
            raise
        return NotificationResult(receipt_id, "refused", str(body.get("typeWebhook", ""))[:64], exc.message)
    return NotificationResult(receipt_id, result.outcome, result.type_webhook)
