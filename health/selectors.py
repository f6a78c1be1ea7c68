"""Reads of what the health monitor and the workers stored (the scrape, pages that show the last results)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from health.checks import CheckResult, SystemHealth
from health.models import HealthCheckResult, WorkerHeartbeat


def health_results_latest() -> SystemHealth:
    """The last stored result of every check, as the checker reports them (empty before the first run).

    ``as_json(detailed=...)`` and ``overall_status`` work as on a live run; each
    result's ``time`` says when the monitor ran it.
    """
    health = SystemHealth()
    for row in HealthCheckResult.objects.all():
        health.checks[row.name] = CheckResult(
            name=row.name,
            status=row.status,
            component_type=row.component_type,
            critical=row.critical,
            response_time_ms=row.response_time_ms,
            time=row.checked_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
            observed_value=row.observed_value,
            observed_unit=row.observed_unit or None,
            output=row.output,
        )
    return health


# A worker counts as alive while its last heartbeat is younger than this many intervals:
# one late or lost beat (a database hiccup) does not make it look gone.
ALIVE_FOR_BEATS = 4


def workers_alive_count() -> int:
    """Celery workers whose last heartbeat is younger than ``ALIVE_FOR_BEATS`` heartbeat intervals."""
    since = timezone.now() - dt.timedelta(seconds=ALIVE_FOR_BEATS * settings.WORKER_HEARTBEAT_SECONDS)
    return WorkerHeartbeat.objects.filter(last_seen__gte=since).count()
