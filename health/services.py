"""Writes of the health app: the monitor's stored results and the workers' heartbeats."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from health.checks import ALL_CHECKS, HealthChecker, SystemHealth
from health.models import HealthCheckResult, WorkerHeartbeat

# A worker row this old is a worker that is gone for good (a host replaced, a renamed
# node); its heartbeat says nothing any more.
HEARTBEAT_FORGET_AFTER = dt.timedelta(days=1)


def health_results_store(*, health: SystemHealth) -> None:
    """Overwrite the stored result of each check in ``health``; forget checks that no longer exist."""
    known = [check.name for check in ALL_CHECKS]
    with transaction.atomic():
        for name, result in health.checks.items():
            HealthCheckResult.objects.update_or_create(
                name=name,
                defaults={
                    "status": result.status,
                    "critical": result.critical,
                    "component_type": result.component_type,
                    "response_time_ms": result.response_time_ms,
                    "output": result.output,
                    "observed_value": result.observed_value,
                    "observed_unit": result.observed_unit or "",
                    "checked_at": dt.datetime.fromisoformat(result.time),
                },
            )
        HealthCheckResult.objects.exclude(name__in=known).delete()


def health_monitor_run() -> SystemHealth:
    """Run every check afresh (not the probes' cache) and store the results.

    The checks count ``health_check_total`` and ``health_check_duration_seconds`` in this
    process as they run; the stored results are what ``health_check_status`` reports on
    every host's scrape. When the database cannot take them (then its check failed), the
    store raises and the scrape keeps the last stored results with their time, so the
    alert on their age fires.
    """
    health = HealthChecker(ALL_CHECKS, cache_seconds=0).check_all_dependencies()
    health_results_store(health=health)
    return health


def worker_heartbeat_record(*, hostname: str, pid: int, started_at: dt.datetime) -> None:
    """Say that the worker ``hostname`` is alive now; forget workers silent for a day."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname, defaults={"pid": pid, "started_at": started_at, "last_seen": now}
    )
    WorkerHeartbeat.objects.filter(last_seen__lt=now - HEARTBEAT_FORGET_AFTER).delete()


def worker_heartbeat_forget(*, hostname: str, pid: int) -> None:
    """A worker that shuts down cleanly removes its heartbeat, so it stops counting at once."""
    WorkerHeartbeat.objects.filter(hostname=hostname, pid=pid).delete()
