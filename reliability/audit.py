"""The audit trail every operator action writes, from the admin, the ops API or a command."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AuditRecord(models.Model):
    """Who did what to which object, and why. Append-only."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # "admin:alice", "api:alice", "cli:root": kept even when the user row is deleted.
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=128)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target_type}:{self.target_id}"


def audit_record(
    *,
    actor: Any,
    channel: str,
    action: str,
    target_type: str,
    target_id: str | int,
    reason: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Write one audit row. ``actor`` is a user, or None for a shell command.

    ``channel`` says which door the action came through: ``admin``, ``api``, ``cli``, or
    ``code`` (the seed's ``cb.reset()``). ``action`` is ``<target>.<verb>``, as in
    ``circuit_breaker.reset`` or ``dead_letter.replay``.
    """
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditRecord.objects.create(
        actor=user,
        actor_label=actor_label(actor=actor, channel=channel),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        reason=reason,
        detail=detail or {},
    )


def actor_label(*, actor: Any, channel: str) -> str:
    """Who acted, as the audit trail and log lines name them: ``admin:alice``, ``cli:root``."""
    name = actor.get_username() if getattr(actor, "is_authenticated", False) else (actor or "system")
    return f"{channel}:{name}"[:150]
