"""Outbox rows in a given state, and stored Green API events, for tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from messaging.models import OutboundMessage, OutboundStatus, WebhookEvent
from messaging.services.ingest import webhook_event_ingest

CHAT = "79005550101@c.us"


def outbound(status: str = OutboundStatus.QUEUED, *, text: str = "We are on it", chat_id: str = CHAT, **fields: Any):
    now = timezone.now()
    defaults: dict[str, Any] = {"created_at": now, "updated_at": now, "queued_at": now}
    if status in (OutboundStatus.SENDING, OutboundStatus.UNKNOWN):
        defaults.update(sending_at=now, attempts=1)
    return OutboundMessage.objects.create(chat_id=chat_id, text=text, status=status, **{**defaults, **fields})


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def stored(body: dict[str, Any]) -> WebhookEvent:
    """Store ``body`` through the webhook's own ingest, as Green API's POST would."""
    result = webhook_event_ingest(body=body)
    assert result.outcome == "stored", result
    return WebhookEvent.objects.get(pk=result.event_id)
