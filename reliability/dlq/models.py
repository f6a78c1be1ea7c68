"""Dead letters: messages that failed after their retries, kept until an operator or a
replay settles them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class DeadLetterStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    RESOLVED = "resolved", "Resolved"
    EXHAUSTED = "exhausted", "Exhausted"
    DISCARDED = "discarded", "Discarded"


class FailureKind(models.TextChoices):
    TRANSIENT = "transient", "Transient"
    RATE_LIMITED = "rate_limited", "Rate limited"
    BREAKER_OPEN = "breaker_open", "Breaker open"
    PERMANENT = "permanent", "Permanent"
    UNKNOWN = "unknown", "Unknown"


# Rows a replay batch may claim; the partial index below covers exactly these.
REPLAYABLE = (DeadLetterStatus.PENDING, DeadLetterStatus.RETRYING)


class DeadLetter(models.Model):
    message_type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    source = models.CharField(max_length=200, blank=True)
    error_class = models.CharField(max_length=200)
    error_message = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=64)
    failure_kind = models.CharField(max_length=16, choices=FailureKind.choices, default=FailureKind.UNKNOWN)
    # The breaker a breaker-open letter waits for.
    breaker_name = models.CharField(max_length=64, blank=True)
    # The first failure as it was, before replays overwrote the error fields.
    first_error = models.JSONField(default=dict)
    # Identifies the failed unit of work (a Celery task id), so a redelivered message that
    # fails again adds to the existing letter instead of creating a second one to replay.
    dedupe_key = models.CharField(max_length=255, blank=True, db_default="")

    status = models.CharField(max_length=16, choices=DeadLetterStatus.choices, default=DeadLetterStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    max_retries = models.PositiveIntegerField(default=5)
    next_retry_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    settled_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("replay_deadletter", "Can replay a dead letter"),
            ("discard_deadletter", "Can discard a dead letter"),
            ("resolve_deadletter", "Can mark a dead letter resolved"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"], condition=~Q(dedupe_key=""), name="deadletter_dedupe_key_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_retry_at", "id"],
                condition=Q(status__in=REPLAYABLE),
                name="deadletter_claim_idx",
            ),
            models.Index(fields=["status", "message_type"], name="deadletter_status_type_idx"),
            models.Index(fields=["fingerprint", "status"], name="deadletter_fingerprint_idx"),
            models.Index(fields=["created_at"], name="deadletter_created_idx"),
            # The reliability report's letters settled in a period.
            models.Index(fields=["settled_at"], condition=Q(settled_at__isnull=False), name="deadletter_settled_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.message_type} ({self.status})"


class DeadLetterAttempt(models.Model):
    """One failed (or final) handling of a letter: its history, RabbitMQ x-death style."""

    class Outcome(models.TextChoices):
        FAILED = "failed", "Failed"
        SUCCEEDED = "succeeded", "Succeeded"
        DEFERRED = "deferred", "Deferred"
        EXHAUSTED = "exhausted", "Exhausted"

    letter = models.ForeignKey(DeadLetter, on_delete=models.CASCADE, related_name="history")
    attempted_at = models.DateTimeField(auto_now_add=True)
    error_class = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    failure_kind = models.CharField(max_length=16, choices=FailureKind.choices, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)

    class Meta:
        ordering = ["attempted_at", "id"]
        # The reliability report's replay attempts in a period.
        indexes = [models.Index(fields=["attempted_at"], name="deadletterattempt_at_idx")]

    def __str__(self) -> str:
        return f"{self.letter_id} {self.outcome} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"
