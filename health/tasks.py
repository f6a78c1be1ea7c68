"""Celery tasks of the health app, with explicit, stable names (periodic task rows store them)."""

from __future__ import annotations

from typing import Any

import structlog
from celery import shared_task

from health.services import health_monitor_run
from reliability.dlq.locks import job_lock

logger = structlog.get_logger(__name__)


@shared_task(name="health_check_monitoring", ignore_result=True)
def health_check_monitoring() -> dict[str, Any]:
    """Beat job (every minute): run every health check, count it, store the results; an overlapping run skips."""
    with job_lock("health_check_monitoring", timeout=60) as acquired:
        if not acquired:
            logger.info("health_monitor_skipped", reason="another run holds the lock")
            return {"skipped": True}
        health = health_monitor_run()
        return {
            "skipped": False,
            "status": health.overall_status,
            "checks": {name: result.status for name, result in health.checks.items()},
        }
