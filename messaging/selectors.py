"""Reads of the messaging tables: what the pipeline, the sweeper, the health check and the admin look at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from messaging.models import (
    InstanceEventKind,
    InstanceStateEvent,
    OutboundMessage,
    OutboundStatus,
    ProcessingStatus,
    Trigger,
    WebhookEvent,
    WebhookType,
)


def trigger_candidates() -> list[Trigger]:
    """Enabled triggers, highest priority first (ties: the older trigger first)."""
    return list(Trigger.objects.filter(enabled=True).order_by("-priority", "id"))


def webhook_events_unprocessed(*, received_before: datetime, limit: int) -> list[int]:
    """Events still pending long after they were stored: their task was lost (broker down)."""
    return list(
        WebhookEvent.objects.filter(processing_status=ProcessingStatus.PENDING, received_at__lt=received_before)
        .order_by("received_at")
        .values_list("id", flat=True)[:limit]
    )


def outbound_queued_overdue(*, due_before: datetime, limit: int) -> list[int]:
    """Queued rows whose send time passed long ago: nobody is going to send them.

    Held rows are not overdue: they wait for the degradation level, and the release sends them.
    """
    overdue = Q(next_attempt_at__lt=due_before) | Q(next_attempt_at__isnull=True, queued_at__lt=due_before)
    return list(
        OutboundMessage.objects.filter(overdue, status=OutboundStatus.QUEUED, held_at__isnull=True)
        .order_by("queued_at")
        .values_list("id", flat=True)[:limit]
    )


def webhook_events_held(*, incoming: bool) -> QuerySet[WebhookEvent]:
    """Events held by the degradation gates, oldest first; incoming messages only when ``incoming``."""
    held = WebhookEvent.objects.filter(processing_status=ProcessingStatus.HELD)
    if not incoming:
        held = held.exclude(type_webhook=WebhookType.INCOMING_MESSAGE)
    return held.order_by("id")


def outbound_held() -> QuerySet[OutboundMessage]:
    """Queued rows held while outbound sending was off, oldest first."""
    return OutboundMessage.objects.filter(status=OutboundStatus.QUEUED, held_at__isnull=False).order_by("id")


def outbound_sending_stale(*, claimed_before: datetime, limit: int) -> list[tuple[int, int]]:
    """``(id, attempts)`` of rows ``sending`` since before ``claimed_before``: their worker is gone."""
    return list(
        OutboundMessage.objects.filter(status=OutboundStatus.SENDING, sending_at__lt=claimed_before)
        .order_by("sending_at")
        .values_list("id", "attempts")[:limit]
    )


def outbound_unknown_since(*, before: datetime, limit: int) -> list[tuple[int, int]]:
    """``(id, attempts)`` of rows unknown since before ``before`` (``updated_at`` is when they became so)."""
    return list(
        OutboundMessage.objects.filter(status=OutboundStatus.UNKNOWN, updated_at__lt=before)
        .order_by("updated_at")
        .values_list("id", "attempts")[:limit]
    )


# --- the metrics scrape: the outbox's open rows, each read bounded ------------------------

# Statuses a row leaves by itself or by an operator; the others are history.
OUTBOUND_OPEN_STATUSES = (OutboundStatus.QUEUED, OutboundStatus.SENDING, OutboundStatus.UNKNOWN, OutboundStatus.FAILED)
# Statuses whose oldest attempt's age the scrape reports (from the status/sending_at index).
OUTBOUND_IN_FLIGHT_STATUSES = (OutboundStatus.SENDING, OutboundStatus.UNKNOWN)


def outbound_open_counts(*, cap: int) -> dict[str, int]:
    """Rows per open status, each count stopping at ``cap`` (an index range of at most ``cap`` entries)."""
    return {
        status: OutboundMessage.objects.filter(status=status).values("pk")[:cap].count()
        for status in OUTBOUND_OPEN_STATUSES
    }


def outbound_oldest_attempts() -> dict[str, datetime | None]:
    """When the oldest attempt still ``sending`` / ``unknown`` left us (None: no such row); one index probe each."""
    return {
        status: OutboundMessage.objects.filter(status=status).aggregate(oldest=Min("sending_at"))["oldest"]
        for status in OUTBOUND_IN_FLIGHT_STATUSES
    }


def instance_events_latest() -> dict[str, InstanceStateEvent]:
    """The last recorded state change and quota event, by kind (absent kinds left out)."""
    latest = {}
    for kind in InstanceEventKind.values:
        event = InstanceStateEvent.objects.filter(kind=kind).order_by("-occurred_at", "-id").first()
        if event is not None:
            latest[kind] = event
    return latest


# --- the admin: conversations, recent chats, rows an operator may act on ------------------------

# Events that are a message in the chat as a person reads it. outgoingAPIMessageReceived is
# Green API echoing a message we sent: the outbound row already stands for it.
CONVERSATION_EVENT_TYPES = (WebhookType.INCOMING_MESSAGE, WebhookType.OUTGOING_MESSAGE)


@dataclass(frozen=True)
class ConversationEntry:
    """One message of a chat: an inbound event (``event``) or an outbox row (``outbound``)."""

    at: datetime
    event: WebhookEvent | None = None
    outbound: OutboundMessage | None = None

    @property
    def from_customer(self) -> bool:
        return self.event is not None and self.event.type_webhook == WebhookType.INCOMING_MESSAGE


@dataclass(frozen=True)
class ConversationPage:
    chat_id: str
    # Oldest first, as a chat reads.
    entries: list[ConversationEntry]
    # Pass as ``before`` for the page of earlier messages; None when there are none.
    earlier_before: datetime | None


def conversation_page(*, chat_id: str, before: datetime | None = None, limit: int = 100) -> ConversationPage:
    """The latest ``limit`` messages of ``chat_id`` (before ``before``), inbound and outbound, in time order.

    Each side reads at most ``limit + 1`` rows through its (chat, time) index, whatever
    the length of the chat's history.
    """
    events = WebhookEvent.objects.filter(chat_id=chat_id, type_webhook__in=CONVERSATION_EVENT_TYPES).select_related(
        "sentiment"
    )
    outbound = OutboundMessage.objects.filter(chat_id=chat_id).select_related("trigger")
    if before is not None:
        events = events.filter(received_at__lt=before)
        outbound = outbound.filter(created_at__lt=before)
    merged = [
        ConversationEntry(at=event.received_at, event=event) for event in events.order_by("-received_at")[: limit + 1]
    ]
    merged += [
        ConversationEntry(at=row.created_at, outbound=row) for row in outbound.order_by("-created_at")[: limit + 1]
    ]
    # Newest first; an inbound message sorts before the reply written at the same instant.
    merged.sort(key=lambda entry: (entry.at, entry.event is not None), reverse=True)
    shown = merged[:limit]
    earlier = shown[-1].at if len(merged) > limit else None
    return ConversationPage(chat_id=chat_id, entries=shown[::-1], earlier_before=earlier)


def chats_recent(*, limit: int = 10) -> list[str]:
    """The chats of the latest messages, newest first (the admin's chat filter offers these)."""
    chats: list[str] = []
    recent = (
        WebhookEvent.objects.filter(type_webhook__in=CONVERSATION_EVENT_TYPES)
        .exclude(chat_id="")
        .order_by("-id")
        .values_list("chat_id", flat=True)[: limit * 20]
    )
    for chat_id in recent:
        if chat_id not in chats:
            chats.append(chat_id)
            if len(chats) == limit:
                break
    return chats


def outbound_reconcilable_q(*, now: datetime | None = None) -> Q:
    """Rows an operator may reconcile: ``unknown`` ones, and ``sending`` ones whose worker is surely gone."""
    stale_before = (now or timezone.now()) - timedelta(seconds=settings.OUTBOX_SENDING_STALE_SECONDS)
    return Q(status=OutboundStatus.UNKNOWN) | Q(status=OutboundStatus.SENDING, sending_at__lt=stale_before)
