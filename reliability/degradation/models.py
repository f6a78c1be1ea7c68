"""The degradation state (one row) and its history (one row per change).

The row is the durable copy of the state every process obeys; with Redis configured,
processes read a copy published there (``store``), which carries the same fields.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from reliability.degradation.levels import DegradationLevel, DegradationSource

STATE_PK = 1


class DegradationState(models.Model):
    """The current level and what it comes from. Only ``STATE_PK`` exists."""

    level = models.PositiveSmallIntegerField(choices=DegradationLevel.choices, default=DegradationLevel.NORMAL)
    source = models.CharField(max_length=16, choices=DegradationSource.choices, default=DegradationSource.AUTO)
    reason = models.TextField(blank=True)
    since = models.DateTimeField(null=True, blank=True, help_text="when the level became what it is")
    # The operator's override: who set it and when it ends (null: until cleared).
    set_by = models.CharField(max_length=150, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # What the rules say, whether or not an override hides it.
    auto_level = models.PositiveSmallIntegerField(choices=DegradationLevel.choices, default=DegradationLevel.NORMAL)
    auto_reason = models.TextField(blank=True)
    # Hysteresis: the highest level the rules asked for since they first asked for less.
    step_down_level = models.PositiveSmallIntegerField(choices=DegradationLevel.choices, null=True, blank=True)
    step_down_since = models.DateTimeField(null=True, blank=True)
    conditions = models.JSONField(default=dict, blank=True, help_text="the conditions seen at the last evaluation")
    evaluated_at = models.DateTimeField(null=True, blank=True)
    read_only = models.BooleanField(default=False, help_text="the database_read_only condition holds")
    version = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "degradation state"
        verbose_name_plural = "degradation state"
        permissions = [("set_degradation_level", "Can set or clear the degradation level")]

    def __str__(self) -> str:
        return f"{DegradationLevel(self.level).label} ({self.get_source_display()})"


class DegradationEvent(models.Model):
    """One change of the level (or of who sets it). Append-only."""

    # Set by the code (not auto_now_add): a change recorded late keeps the time it happened.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    from_level = models.PositiveSmallIntegerField(choices=DegradationLevel.choices)
    to_level = models.PositiveSmallIntegerField(choices=DegradationLevel.choices)
    source = models.CharField(max_length=16, choices=DegradationSource.choices)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # "admin:alice", "cli:root", "auto": kept even when the user row is deleted.
    actor_label = models.CharField(max_length=150)
    expires_at = models.DateTimeField(null=True, blank=True)
    conditions = models.JSONField(default=dict, blank=True, help_text="the conditions that held at the change")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{DegradationLevel(self.from_level).slug} -> {DegradationLevel(self.to_level).slug} ({self.source})"
