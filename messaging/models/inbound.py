"""Every event Green API delivers (webhook or polled notification), stored once, raw.

The row is written before the webhook is answered and processed after commit, so what
Green API was told "200" about is always here. Duplicates (Green API delivers at least
once, sometimes the same event twice at the same moment) fail at a unique constraint on
the event's natural key, never at a check-then-insert.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookType(models.TextChoices):
    """The ``typeWebhook`` values Green API documents; other values are stored as they come."""

    INCOMING_MESSAGE = "incomingMessageReceived", "Incoming message"
    OUTGOING_MESSAGE = "outgoingMessageReceived", "Outgoing message (sent from the phone)"
    OUTGOING_API_MESSAGE = "outgoingAPIMessageReceived", "Outgoing message (sent through the API)"
    OUTGOING_MESSAGE_STATUS = "outgoingMessageStatus", "Outgoing message status"
    STATE_INSTANCE_CHANGED = "stateInstanceChanged", "Instance state changed"
    STATUS_INSTANCE_CHANGED = "statusInstanceChanged", "Instance status changed"
    DEVICE_INFO = "deviceInfo", "Device info"
    INCOMING_CALL = "incomingCall", "Incoming call"
    INCOMING_BLOCK = "incomingBlock", "Incoming block"
    QUOTA_EXCEEDED = "quotaExceeded", "Quota exceeded"


# Events that carry a WhatsApp message: (chatId, idMessage) identifies them (idMessage is
# unique only within a chat).
MESSAGE_TYPES = (
    WebhookType.INCOMING_MESSAGE,
    WebhookType.OUTGOING_MESSAGE,
    WebhookType.OUTGOING_API_MESSAGE,
)


class ProcessingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    # Stored, and processed once the degradation level lets it be: webhook processing is
    # off (critical), or, for an incoming text, automatic replies are (severe and up).
    HELD = "held", "Held (until the degradation level drops)"
    PROCESSED = "processed", "Processed"
    # Stored and answered, nothing to do (an image, a device info event, an unknown type).
    IGNORED = "ignored", "Ignored"
    # Processing raised; the error is kept and the event's dead letter replays it.
    FAILED = "failed", "Failed"


class ReceivedVia(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    POLL = "poll", "receiveNotification"


class WebhookEvent(models.Model):
    """One Green API event: the raw body plus the fields the pipeline and the admin read."""

    type_webhook = models.CharField(max_length=64)
    chat_id = models.CharField(max_length=255, blank=True)
    sender = models.CharField(max_length=255, blank=True)
    sender_name = models.CharField(max_length=255, blank=True)
    id_message = models.CharField(max_length=255, blank=True)
    type_message = models.CharField(max_length=64, blank=True)
    # The message's text, from textMessage, extendedTextMessage or quotedMessage shapes.
    text = models.TextField(blank=True)
    # outgoingMessageStatus only: sent, delivered, read, failed, noAccount, ...
    message_status = models.CharField(max_length=32, blank=True)
    # Green API's own time of the event (``timestamp``); ours is ``received_at``.
    occurred_at = models.DateTimeField(null=True, blank=True)
    # Identifies events with no natural key (state changes, calls, ...): an exact redelivery
    # has the same body, so the same hash.
    body_sha256 = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()
    received_via = models.CharField(max_length=16, choices=ReceivedVia.choices, default=ReceivedVia.WEBHOOK)
    received_at = models.DateTimeField(default=timezone.now)

    processing_status = models.CharField(
        max_length=16, choices=ProcessingStatus.choices, default=ProcessingStatus.PENDING
    )
    processing_error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "webhook event"
        constraints = [
            models.UniqueConstraint(
                fields=["chat_id", "id_message"],
                condition=Q(type_webhook__in=MESSAGE_TYPES) & ~Q(id_message=""),
                name="webhookevent_message_once",
            ),
            models.UniqueConstraint(
                fields=["chat_id", "id_message", "message_status"],
                condition=Q(type_webhook=WebhookType.OUTGOING_MESSAGE_STATUS) & ~Q(id_message=""),
                name="webhookevent_status_once",
            ),
            models.UniqueConstraint(
                fields=["type_webhook", "body_sha256"],
                condition=~Q(body_sha256=""),
                name="webhookevent_body_once",
            ),
        ]
        indexes = [
            # The admin's status filter and the sweeper's search for events nobody processed.
            models.Index(fields=["processing_status", "received_at"], name="webhookevent_status_idx"),
            # The admin's chat filter and the conversation page.
            models.Index(fields=["chat_id", "received_at"], name="webhookevent_chat_idx"),
            models.Index(fields=["type_webhook", "received_at"], name="webhookevent_type_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type_webhook} {self.chat_id} {self.id_message}".rstrip()
