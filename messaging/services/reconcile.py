"""Settling outbound messages of unknown outcome, without ever sending one twice.

A row is ``unknown`` when its request may have reached Green API but no answer came back
(``SendOutcomeUnknown``), or when its worker died mid-send (a stale ``sending`` row).
Three witnesses can settle it, each by chat and text (an unknown row has no idMessage):

1. the ``outgoingAPIMessageReceived`` webhook Green API sends for every message it
   accepted from the API: ``outbound_settle_from_webhook`` when it arrives, and
   ``outbound_settle_from_events`` (the stored ones) when a row becomes unknown;
2. ``lastOutgoingMessages``, the journal, which can lag about two minutes: read once
   per sweep by ``outbox_reconcile_unknown``;
3. nothing: a row found in neither, whose request could have been accepted no later than
   when it became unknown, and older than that plus the journal's lag, is surely absent and
   goes back to ``queued`` to be sent again.

An idMessage settles at most one row (a unique constraint per chat), so two rows with the
same chat and text are settled by two different messages or not at all.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from messaging import metrics
from messaging.clients.green_api import get_green_api_client
from messaging.models import OutboundMessage, OutboundStatus, WebhookEvent, WebhookType
from messaging.payloads import JournalEntry, journal_text
from messaging.services.delivery import DELIVERY_STATUSES, outbound_apply_stored_statuses, outbound_status_apply
from messaging.services.dispatch import SEND_TASK, task_enqueue

log = structlog.get_logger(__name__)

S = OutboundStatus
# Our clock and Green API's differ; a message is looked for from this long before our request.
CLOCK_SKEW = timedelta(seconds=60)
MAX_JOURNAL_MINUTES = 1440


def text_key(text: str) -> str:
    """The form in which our text and Green API's echo of it are compared."""
    return text.replace("\r\n", "\n").strip()


def _settle(row: OutboundMessage, *, id_message: str, sent_at: datetime | None, method: str) -> bool:
    """unknown (or a stale sending) -> sent with the witness's idMessage; False when someone was first."""
    now = timezone.now()
    try:
        with transaction.atomic():
            moved = OutboundMessage.objects.filter(pk=row.pk, status=row.status, attempts=row.attempts).update(
                status=S.SENT, id_message=id_message, sent_at=sent_at or now, last_error="", updated_at=now
            )
    except IntegrityError:  # this idMessage already settled another row
        return False
    if not moved:
        return False
    metrics.outbound_transition(row.status, S.SENT)
    metrics.reconciliations.labels(method=method, outcome="found").inc()
    log.info("outbound_reconciled", outbound_id=row.pk, method=method, from_status=row.status)
    outbound_apply_stored_statuses(outbound_id=row.pk)
    return True


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.OUTBOX_SENDING_STALE_SECONDS)


def _owned_ids(chat_id: str, id_messages: list[str]) -> set[str]:
    if not id_messages:
        return set()
    return set(
        OutboundMessage.objects.filter(chat_id=chat_id, id_message__in=id_messages).values_list("id_message", flat=True)
    )


# --- witness 1: the outgoingAPIMessageReceived webhook ----------------------------------


def outbound_settle_from_webhook(*, event: WebhookEvent) -> str:
    """Settle the oldest unknown row (or stale sending row) this echo describes.

    A ``sending`` row whose worker is alive is left to its own answer; should that answer
    be "unknown", ``outbound_settle_from_events`` finds this stored event. The row is
    locked, so a worker recording "unknown" at this moment waits for us, or we for it.
    """
    if not event.id_message or not event.chat_id:
        return "no_id"
    if OutboundMessage.objects.filter(chat_id=event.chat_id, id_message=event.id_message).exists():
        return "known"
    now = timezone.now()
    with transaction.atomic():
        candidates = list(
            OutboundMessage.objects.select_for_update()
            .filter(chat_id=event.chat_id, status__in=(S.UNKNOWN, S.SENDING), id_message="")
            .order_by("id")
        )
        for row in candidates:
            if text_key(row.text) != text_key(event.text):
                continue
            if row.status == S.SENDING and (row.sending_at is None or row.sending_at >= _stale_before(now)):
                continue
            if event.occurred_at and row.sending_at and event.occurred_at < row.sending_at - CLOCK_SKEW:
                continue  # accepted before this row's request left: another message
            if _settle(row, id_message=event.id_message, sent_at=event.occurred_at, method="webhook"):
                return "settled"
    return "no_row"


def outbound_settle_from_events(*, outbound_id: int) -> bool:
    """Settle an unknown row from an outgoingAPIMessageReceived event already stored."""
    row = OutboundMessage.objects.filter(pk=outbound_id, status=S.UNKNOWN).first()
    if row is None or row.sending_at is None:
        return False
    events = list(
        WebhookEvent.objects.filter(
            type_webhook=WebhookType.OUTGOING_API_MESSAGE,
            chat_id=row.chat_id,
            received_at__gte=row.sending_at - CLOCK_SKEW,
        )
        .exclude(id_message="")
        .order_by("id")
        .only("id_message", "text", "occurred_at")
    )
    matching = [event for event in events if text_key(event.text) == text_key(row.text)]
    owned = _owned_ids(row.chat_id, [event.id_message for event in matching])
    for event in matching:
        if event.id_message not in owned and _settle(
            row, id_message=event.id_message, sent_at=event.occurred_at, method="webhook"
        ):
            return True
    return False


# --- witnesses 2 and 3: the journal, and its silence ------------------------------------


def _journal_minutes(oldest: datetime, now: datetime) -> int:
    return min(MAX_JOURNAL_MINUTES, max(1, math.ceil((now - oldest + CLOCK_SKEW).total_seconds() / 60) + 1))


def _journal_index(entries: list[Any]) -> dict[tuple[str, str], list[JournalEntry]]:
    index: dict[tuple[str, str], list[JournalEntry]] = defaultdict(list)
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        chat_id, id_message = entry.get("chatId"), entry.get("idMessage")
        if entry.get("sendByApi") is False:
            continue  # typed on the phone: not one of ours
        if isinstance(chat_id, str) and isinstance(id_message, str) and id_message:
            index[(chat_id, text_key(journal_text(entry)))].append(entry)
    for found in index.values():
        found.sort(key=lambda entry: entry.get("timestamp") if isinstance(entry.get("timestamp"), int) else 0)
    return index


def _entry_time(entry: JournalEntry) -> datetime | None:
    stamp = entry.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int) or not 0 <= stamp < 10**11:
        return None
    return datetime.fromtimestamp(stamp, tz=UTC)


def outbox_reconcile_unknown(*, limit: int, outbound_ids: list[int] | None = None) -> dict[str, int]:
    """Settle up to ``limit`` unknown rows (of ``outbound_ids`` only, when given: an
    operator's selection): stored webhooks first, then one journal read.

    Green API is called at most once (the journal is rate limited), and only when a row
    is left after the stored webhooks. When that call fails nothing is decided: the
    rows wait for the next sweep.
    """

    stats = {"found": 0, "absent": 0, "waiting": 0, "journal_calls": 0}
    unknown = OutboundMessage.objects.filter(status=S.UNKNOWN)
    if outbound_ids is not None:
        unknown = unknown.filter(pk__in=outbound_ids)
    ids = list(unknown.order_by("sending_at", "id").values_list("id", flat=True)[:limit])
    remaining = []
    for outbound_id in ids:
        if outbound_settle_from_events(outbound_id=outbound_id):
            stats["found"] += 1
        else:
            remaining.append(outbound_id)
    rows = list(OutboundMessage.objects.filter(pk__in=remaining, status=S.UNKNOWN).order_by("sending_at", "id"))
    if not rows:
        return stats
    now = timezone.now()
    oldest = min(row.sending_at or row.updated_at for row in rows)
    stats["journal_calls"] = 1
    try:
        with get_green_api_client() as client:
            entries = client.last_outgoing_messages(minutes=_journal_minutes(oldest, now))
    except Exception as exc:  # noqa: BLE001 - no witness this time; nothing is decided
        log.warning("outbox_journal_unavailable", error_class=type(exc).__name__, waiting=len(rows))
        stats["waiting"] = len(rows)
        return stats
    index = _journal_index(entries if isinstance(entries, list) else [])
    used: set[tuple[str, str]] = set()
    for row in rows:
        outcome = _reconcile_one(row, index, used, now)
        stats[outcome] += 1
    return stats


def _reconcile_one(
    row: OutboundMessage, index: dict[tuple[str, str], list[JournalEntry]], used: set[tuple[str, str]], now: datetime
) -> str:
    candidates = index.get((row.chat_id, text_key(row.text)), [])
    owned = _owned_ids(row.chat_id, [entry["idMessage"] for entry in candidates])
    for entry in candidates:
        key = (row.chat_id, entry["idMessage"])
        at = _entry_time(entry)
        if key in used or entry["idMessage"] in owned:
            continue
        if at is not None and row.sending_at is not None and at < row.sending_at - CLOCK_SKEW:
            continue
        if _settle(row, id_message=entry["idMessage"], sent_at=at, method="journal"):
            used.add(key)
            status = entry.get("statusMessage")
            if isinstance(status, str) and DELIVERY_STATUSES.get(status) in (S.DELIVERED, S.READ):
                outbound_status_apply(chat_id=row.chat_id, id_message=entry["idMessage"], status=status, at=at)
            return "found"
    # The request could have been accepted up to the moment the row became unknown.
    accepted_by = row.updated_at
    if now - accepted_by < timedelta(seconds=settings.GREEN_API_JOURNAL_LAG_SECONDS):
        return "waiting"
    return "absent" if outbound_resend_absent(row=row) else "waiting"


def outbound_resend_absent(*, row: OutboundMessage) -> bool:
    """unknown -> queued for a row surely absent from Green API, and send it now."""
    now = timezone.now()
    moved = OutboundMessage.objects.filter(pk=row.pk, status=S.UNKNOWN, attempts=row.attempts).update(
        status=S.QUEUED,
        queued_at=now,
        next_attempt_at=None,
        last_error="not found in Green API's journal: sending again",
        updated_at=now,
    )
    if not moved:
        return False
    metrics.outbound_transition(S.UNKNOWN, S.QUEUED)
    metrics.reconciliations.labels(method="journal", outcome="absent").inc()
    log.warning("outbound_absent_resending", outbound_id=row.pk, attempts=row.attempts)
    transaction.on_commit(lambda: task_enqueue(task_name=SEND_TASK, args=[row.pk]))
    return True
