"""Messaging models, one concept per module; import them from here."""

from messaging.models.inbound import MESSAGE_TYPES, ProcessingStatus, ReceivedVia, WebhookEvent, WebhookType
from messaging.models.instance import InstanceEventKind, InstanceStateEvent
from messaging.models.outbound import OutboundMessage, OutboundStatus
from messaging.models.sentiment import SentimentLabel, SentimentResult, SentimentSource
from messaging.models.triggers import Trigger, TriggerFiring

__all__ = [
    "MESSAGE_TYPES",
    "InstanceEventKind",
    "InstanceStateEvent",
    "OutboundMessage",
    "OutboundStatus",
    "ProcessingStatus",
    "ReceivedVia",
    "SentimentLabel",
    "SentimentResult",
    "SentimentSource",
    "Trigger",
    "TriggerFiring",
    "WebhookEvent",
    "WebhookType",
]
