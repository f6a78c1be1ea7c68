"""Which stored events have processing to do: one rule for ingest and the pipeline's router."""

from __future__ import annotations

from messaging.models import WebhookType

# Every other event is stored as ignored (answered 200, so Green API stops redelivering it).
ACTED_ON_TYPES = frozenset(
    {
        WebhookType.INCOMING_MESSAGE,
        WebhookType.OUTGOING_MESSAGE_STATUS,
        WebhookType.OUTGOING_API_MESSAGE,
        WebhookType.STATE_INSTANCE_CHANGED,
        WebhookType.QUOTA_EXCEEDED,
    }
)


def webhook_event_acts_on(*, type_webhook: str, text: str) -> bool:
    """Whether an event of this type (and text) needs processing: incoming messages only with text."""
    if type_webhook == WebhookType.INCOMING_MESSAGE:
        return bool(text.strip())
    return type_webhook in ACTED_ON_TYPES
