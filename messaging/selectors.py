"""Reads of the messaging tables: what the pipeline, the sweeper and the health check look at."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from messaging.models import (
    InstanceEventKind,
    InstanceStateEvent,
    OutboundMessage,
    OutboundStatus,
    ProcessingStatus,
    Trigger,
    WebhookEvent,
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
    """Queued rows whose send time passed long ago: nobody is going to send them."""
    overdue = Q(next_attempt_at__lt=due_before) | Q(next_attempt_at__isnull=True, queued_at__lt=due_before)
    return list(
        OutboundMessage.objects.filter(overdue, status=OutboundStatus.QUEUED)
        .order_by("queued_at")
        .values_list("id", flat=True)[:limit]
    )


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


def instance_events_latest() -> dict[str, InstanceStateEvent]:
    """The last recorded state change and quota event, by kind (absent kinds left out)."""
    latest = {}
    for kind in InstanceEventKind.values:
        event = InstanceStateEvent.objects.filter(kind=kind).order_by("-occurred_at", "-id").first()
        if event is not None:
            latest[kind] = event
    return latest
