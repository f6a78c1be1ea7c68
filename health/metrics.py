"""Scrape-time metrics of the health app: the monitor's last results and the live Celery workers.

Both describe shared state (rows in the database), so every process and every host
reports the same values; ``health_check_duration_seconds`` and ``health_check_total``
are counted where the checks run (``health.checks``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from health.checks import STATUS_VALUES

logger = structlog.get_logger(__name__)


class HealthStateCollector(Collector):
    """``health_check_status``, ``health_check_last_run_timestamp_seconds`` and ``celery_workers_alive``."""

    def collect(self) -> Iterable[Metric]:
        from health.selectors import health_results_latest, workers_alive_count

        try:
            results = health_results_latest().checks
            alive = workers_alive_count()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the database does
            logger.warning("health_metrics_unavailable", error_class=type(exc).__name__)
            return
        status = GaugeMetricFamily(
            "health_check_status",
            "Last result of each check run by the health monitor: 1 pass, 0.5 warn, 0 fail.",
            labels=["check"],
        )
        last_run = GaugeMetricFamily(
            "health_check_last_run_timestamp_seconds",
            "When the health monitor last ran each check (Unix time); old means the monitor is not running.",
            labels=["check"],
        )
        for name, result in results.items():
            status.add_metric([name], STATUS_VALUES[result.status])
            last_run.add_metric([name], dt.datetime.fromisoformat(result.time).timestamp())
        yield status
        yield last_run
        yield GaugeMetricFamily(
            "celery_workers_alive",
            "Celery workers whose heartbeat arrived within the last four WORKER_HEARTBEAT_SECONDS.",
            value=alive,
        )


health_state_collector = HealthStateCollector()
