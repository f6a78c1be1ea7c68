"""The outbox: every outbound WhatsApp message is a row before it is a request.

A row is written in the same transaction as the change that caused it (an inbound
message processed, an API call accepted) and sent by a task after commit. Its status
moves only along these edges (``messaging.services.outbox`` and ``.reconcile`` make every
move with a conditional UPDATE):

    queued -> sending -> sent -> delivered -> read
    sending -> queued     a definite failure with attempts left, or the breaker was open
    sending -> unknown    the request may have reached Green API, no answer came back
    sending -> failed     a permanent error, or the attempts are spent (a dead letter holds it)
    unknown -> sent       found in the outgoingAPIMessageReceived webhook or lastOutgoingMessages
    unknown -> queued     surely absent from Green API's journal: sent again
    failed  -> queued     a dead letter replay or an operator's re-send
    sent, delivered -> failed   a failed/noAccount/notInGroup/yellowCard status webhook

A queued row may also be *held* (``held_at`` set): outbound sending is off at the current
degradation level, so no attempt is made and Green API is not called; the release sends
it once sending is allowed again (``messaging.services.release``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from messaging.models.inbound import WebhookEvent
from messaging.models.triggers import Trigger

# How much of an error ``last_error`` keeps (redacted first).
LAST_ERROR_CHARS = 2_000


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    # Green API may have accepted it: never sent again until reconciled.
    UNKNOWN = "unknown", "Unknown (being reconciled)"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


class OutboundMessage(models.Model):
    chat_id = models.CharField(max_length=255)
    text = models.TextField()
    status = models.CharField(max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED)
    # Green API's idMessage once it accepted the message; unique within a chat.
    id_message = models.CharField(max_length=255, blank=True)
    # Send attempts that reached the point of calling Green API; a breaker-open refusal
    # is not an attempt.
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Identifies the work that created the row ("inbound:<id>:trigger:<id>", or an API
    # client's key), so a redelivered task or a repeated request cannot add a second row.
    idempotency_key = models.CharField(max_length=255, blank=True, db_default="")

    inbound = models.ForeignKey(WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="replies")
    trigger = models.ForeignKey(
        Trigger, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound_messages"
    )

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Last time the row (re)entered ``queued``.
    queued_at = models.DateTimeField(default=timezone.now)
    # When the last attempt was claimed, just before the request left: reconciliation
    # looks for the message in Green API's journal from this time on.
    sending_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    # A queued row is not sent before this (retry backoff, an open breaker's retry_after).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Since when a queued row waits for outbound sending to be allowed again (the
    # degradation level); cleared when it is released or claimed.
    held_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "outbound message"
        permissions = [
            ("resend_outboundmessage", "Can send a failed outbound message again"),
            ("reconcile_outboundmessage", "Can reconcile an outbound message of unknown outcome"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["chat_id", "id_message"], condition=~Q(id_message=""), name="outbound_id_message_once"
            ),
            models.UniqueConstraint(
                fields=["idempotency_key"], condition=~Q(idempotency_key=""), name="outbound_idempotency_key_once"
            ),
        ]
        indexes = [
            # The sweeper's queued rows (and the admin's status filter).
            models.Index(fields=["status", "next_attempt_at"], name="outbound_status_next_idx"),
            # The sweeper's stale sending and unknown rows.
            models.Index(fields=["status", "sending_at"], name="outbound_status_sending_idx"),
            # The admin's chat filter, the conversation page, reconciliation by chat.
            models.Index(fields=["chat_id", "created_at"], name="outbound_chat_idx"),
            models.Index(fields=["created_at"], name="outbound_created_idx"),
            # Replies out per minute and their latency (the reliability report, the dashboard).
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="outbound_sent_idx"),
            # The release's held rows, oldest first.
            models.Index(fields=["id"], condition=Q(status="queued", held_at__isnull=False), name="outbound_held_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} to {self.chat_id} ({self.status})"
