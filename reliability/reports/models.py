"""Stored reliability reports: one row per period the hourly job covered."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class ReliabilityReport(models.Model):
    """What ``reliability_report_build`` said about ``[period_start, period_end)``, as JSON."""

    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    generated_at = models.DateTimeField(default=timezone.now)
    data = models.JSONField(encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-period_end", "-id"]
        verbose_name = "reliability report"
        constraints = [
            # A redelivered or overlapping job run cannot store the same hour twice.
            models.UniqueConstraint(fields=["period_start", "period_end"], name="reliabilityreport_period_once"),
        ]
        indexes = [models.Index(fields=["-period_end"], name="reliabilityreport_end_idx")]

    def __str__(self) -> str:
        return f"{self.period_start:%Y-%m-%d %H:%M} – {self.period_end:%Y-%m-%d %H:%M} UTC"
