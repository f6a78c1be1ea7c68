"""Database rows for circuit breakers: per-breaker overrides, last known state, history.

The live state of a shared breaker is in Redis (or, embedded, in the row itself under a
row lock); this row is what operators edit and what a lost Redis is rebuilt from.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed"
    OPEN = "open", "Open"
    HALF_OPEN = "half_open", "Half-open"
    FORCED_OPEN = "forced_open", "Forced open"
    DISABLED = "disabled", "Disabled"
    METRICS_ONLY = "metrics_only", "Metrics only"


class TransitionReason(models.TextChoices):
    CONSECUTIVE_FAILURES = "consecutive_failures", "Consecutive failures"
    FAILURE_RATE = "failure_rate", "Failure rate"
    SLOW_CALLS = "slow_calls", "Slow calls"
    RECOVERY_TIMEOUT = "recovery_timeout", "Recovery timeout elapsed"
    HALF_OPEN_SUCCESS = "half_open_success", "Trial calls succeeded"
    HALF_OPEN_FAILURE = "half_open_failure", "Trial call failed"
    OPERATOR = "operator", "Operator"
    REBUILT = "rebuilt", "Rebuilt after store loss"


class CircuitBreaker(models.Model):
    """One named breaker. Blank threshold fields inherit ``CIRCUIT_BREAKER_CONFIGS``."""

    name = models.SlugField(max_length=64, unique=True)
    state = models.CharField(max_length=16, choices=BreakerState.choices, default=BreakerState.CLOSED)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    open_until = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    failure_rate = models.FloatField(default=0.0)
    # Bumped by every operator change so processes notice it without comparing fields.
    config_version = models.PositiveIntegerField(default=0)
    # Window, half-open permits and open time of the database store (embedded default).
    runtime = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    failure_threshold = models.PositiveIntegerField(null=True, blank=True)
    failure_rate_threshold = models.FloatField(null=True, blank=True)
    minimum_requests = models.PositiveIntegerField(null=True, blank=True)
    window_size = models.PositiveIntegerField(null=True, blank=True)
    recovery_timeout = models.FloatField(null=True, blank=True, help_text="seconds")
    success_threshold = models.PositiveIntegerField(null=True, blank=True)
    half_open_max_calls = models.PositiveIntegerField(null=True, blank=True)
    timeout = models.FloatField(null=True, blank=True, help_text="seconds")
    slow_call_threshold = models.FloatField(null=True, blank=True, help_text="seconds")
    slow_call_rate_threshold = models.FloatField(null=True, blank=True)
    max_recovery_timeout = models.FloatField(null=True, blank=True, help_text="seconds")

    class Meta:
        ordering = ["name"]
        permissions = [
            ("reset_circuitbreaker", "Can reset a circuit breaker"),
            ("force_open_circuitbreaker", "Can force a circuit breaker open"),
            ("disable_circuitbreaker", "Can disable a circuit breaker"),
            ("normalize_circuitbreaker", "Can return a circuit breaker to normal operation"),
        ]

    def __str__(self) -> str:
        return self.name


class BreakerTransition(models.Model):
    """Append-only history of state changes."""

    breaker = models.ForeignKey(CircuitBreaker, on_delete=models.CASCADE, related_name="transitions")
    created_at = models.DateTimeField(auto_now_add=True)
    from_state = models.CharField(max_length=16, choices=BreakerState.choices)
    to_state = models.CharField(max_length=16, choices=BreakerState.choices)
    reason = models.CharField(max_length=32, choices=TransitionReason.choices)
    failure_rate = models.FloatField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["breaker", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.breaker_id}: {self.from_state} -> {self.to_state} ({self.reason})"
