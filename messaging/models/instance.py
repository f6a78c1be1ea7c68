"""What Green API told us about our instance: state changes and quota warnings."""

from __future__ import annotations

from django.db import models

from messaging.models.inbound import WebhookEvent


class InstanceEventKind(models.TextChoices):
    STATE_CHANGED = "state_changed", "State changed"
    QUOTA_EXCEEDED = "quota_exceeded", "Quota exceeded"


class InstanceStateEvent(models.Model):
    """A ``stateInstanceChanged`` or ``quotaExceeded`` event, for the health check and operators."""

    kind = models.CharField(max_length=16, choices=InstanceEventKind.choices)
    # stateInstance: authorized, notAuthorized, blocked, starting, yellowCard, sleepMode
    state = models.CharField(max_length=64, blank=True)
    # quotaExceeded's quotaData (method, used, total, ...), as it came.
    detail = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField()
    event = models.OneToOneField(WebhookEvent, on_delete=models.CASCADE, related_name="instance_state")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["kind", "occurred_at"], name="instancestate_kind_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.state} at {self.occurred_at:%Y-%m-%d %H:%M:%S}".replace("  ", " ")
