"""What the health monitor leaves behind for others to read.

``HealthCheckResult`` is the last result of each check as the beat job
``health_check_monitoring`` saw it: the scrape reads it for ``health_check_status``, and
pages that show "the last health results" read it instead of running the checks
themselves. ``WorkerHeartbeat`` is each Celery worker saying it is alive, so that "no
worker" shows as a metric even when no worker is left to run any job.
"""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class HealthCheckStatus(models.TextChoices):
    PASS = "pass", "Pass"
    WARN = "warn", "Warn"
    FAIL = "fail", "Fail"


class HealthCheckResult(models.Model):
    """The latest result of one check (one row per check, overwritten by each monitor run)."""

    name = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=8, choices=HealthCheckStatus.choices)
    critical = models.BooleanField()
    component_type = models.CharField(max_length=32)
    response_time_ms = models.FloatField()
    # Redacted by the checker, as on /health/detailed.
    output = models.TextField(blank=True)
    observed_value = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    observed_unit = models.CharField(max_length=32, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        verbose_name = "health check result"

    def __str__(self) -> str:
        return f"{self.name}: {self.status}"


class WorkerHeartbeat(models.Model):
    """A Celery worker's last sign of life, written by the worker's main process every few seconds."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["hostname"]
        verbose_name = "worker heartbeat"

    def __str__(self) -> str:
        return self.hostname
