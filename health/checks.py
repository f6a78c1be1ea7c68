"""Dependency checks behind the /health/* endpoints.

Each check is a plain function that returns an observed value or raises. The checker
runs them concurrently, each under its own timeout, so one hung dependency costs the
probe its timeout and not the sum of all of them. Results are cached per process (not in
Django's cache: the cache may be the dependency that is down).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from prometheus_client import Counter, Histogram

from reliability.redaction import redact_text

logger = structlog.get_logger(__name__)

# The media type of every /health/* answer (draft-inadarei-api-health-check).
CONTENT_TYPE = "application/health+json"

Status = Literal["pass", "warn", "fail"]
_STATUS_ORDER: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2}

CHECK_DURATION = Histogram(
    "health_check_duration_seconds",
    "Time taken by one health check",
    ["check"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# Seed name (its Grafana query divides the "healthy" runs by all runs). The status words
# are the seed's: pass is healthy, warn degraded, fail unhealthy.
CHECK_RUNS = Counter(
    "health_check",
    "Health check runs in any process (probes, the monitor), by check and status: healthy, degraded, unhealthy.",
    ["check", "status"],
)
STATUS_WORDS: dict[str, str] = {"pass": "healthy", "warn": "degraded", "fail": "unhealthy"}
# ``health_check_status`` is the monitor's stored last result, read at scrape time
# (health.metrics): every process and every host reports the same value.
STATUS_VALUES: dict[str, float] = {"pass": 1.0, "warn": 0.5, "fail": 0.0}


class CheckWarning(Exception):
    """The dependency answers but something needs attention (status ``warn``); ``observed`` is still shown."""

    def __init__(self, message: str, *, observed: Any = None) -> None:
        super().__init__(message)
        self.observed = observed


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], Any]
    component_type: str
    critical: bool
    observed_unit: str | None = None


@dataclass
class CheckResult:
    name: str
    status: Status
    component_type: str
    critical: bool
    response_time_ms: float
    time: str
    observed_value: Any = None
    observed_unit: str | None = None
    output: str = ""

    def as_json(self, *, detailed: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "componentType": self.component_type,
            "status": self.status,
            "time": self.time,
            "response_time_ms": self.response_time_ms,
        }
        if detailed:
            body["critical"] = self.critical
            if self.observed_value is not None:
                body["observedValue"] = self.observed_value
            if self.observed_unit:
                body["observedUnit"] = self.observed_unit
            if self.output:
                body["output"] = self.output
        return body


@dataclass
class SystemHealth:
    checks: dict[str, CheckResult] = field(default_factory=dict)

    @property
    def overall_status(self) -> Status:
        """``fail`` only when a critical check fails; a failing optional check is ``warn``."""
        worst: Status = "pass"
        for result in self.checks.values():
            status: Status = result.status
            if status == "fail" and not result.critical:
                status = "warn"
            if _STATUS_ORDER[status] > _STATUS_ORDER[worst]:
                worst = status
        return worst

    def as_json(self, *, detailed: bool) -> dict[str, Any]:
        return {
            "status": self.overall_status,
            "checks": {name: [result.as_json(detailed=detailed)] for name, result in self.checks.items()},
        }


# --- the checks ----------------------------------------------------------------------


def _check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    key = "health:probe"
    token = str(time.time_ns())
    cache.set(key, token, timeout=30)
    if cache.get(key) != token:
        raise RuntimeError("cache did not return the value just written")


def _check_broker() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=settings.HEALTH_CHECK_TIMEOUT)


def _check_celery_workers() -> int:
    from config.celery import app

    replies = app.control.ping(timeout=min(1.0, settings.HEALTH_CHECK_TIMEOUT / 2))
    if not replies:
        raise CheckWarning("no Celery worker answered a ping")
    return len(replies)


def _check_migrations() -> int:
    connection = connections["default"]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise CheckWarning(f"{len(plan)} migration(s) not applied")
    return 0


def _check_green_api() -> dict[str, Any]:
    """Green API's live instance state (getStateInstance, rate-limited) and the last events it sent.

    Non-critical: a phone that is not authorized stops replies, not the service. ``warn``
    when the state is not ``authorized`` or a quota was exceeded in the last day.
    """
    from messaging.selectors import instance_events_latest
    from messaging.services.instance import green_api_state_read

    live = green_api_state_read()
    latest = instance_events_latest()
    observed: dict[str, Any] = {"stateInstance": live["state"], "checked_at": live["checked_at"]}
    for kind, event in latest.items():
        observed[f"last_{kind}"] = {"state": event.state, "at": event.occurred_at.isoformat(timespec="seconds")}
    problems = []
    if live["state"] != "authorized":
        problems.append(f"instance state is {live['state'] or 'not reported'}")
    quota = latest.get("quota_exceeded")
    if quota is not None and (datetime.now(UTC) - quota.occurred_at).total_seconds() < 86400:
        problems.append(f"quota exceeded at {quota.occurred_at:%Y-%m-%d %H:%M} UTC ({quota.state or 'no status'})")
    if problems:
        raise CheckWarning("; ".join(problems), observed=observed)
    return observed


CRITICAL_CHECKS: tuple[Check, ...] = (
    Check("database", _check_database, "datastore", critical=True),
    Check("cache", _check_cache, "datastore", critical=True),
    Check("broker", _check_broker, "component", critical=True),
)
ALL_CHECKS: tuple[Check, ...] = (
    *CRITICAL_CHECKS,
    Check("celery_workers", _check_celery_workers, "component", critical=False, observed_unit="workers"),
    Check("migrations", _check_migrations, "datastore", critical=False, observed_unit="unapplied"),
    Check("green_api", _check_green_api, "component", critical=False),
)


# Every series declared at import, so dashboards and alerts see them before the first run.
for _check in ALL_CHECKS:
    CHECK_DURATION.labels(_check.name)
    for _word in STATUS_WORDS.values():
        CHECK_RUNS.labels(_check.name, _word)


# --- running them --------------------------------------------------------------------

# Enough threads that a few hung checks cannot starve the next probe.
_executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="health")
_cache_lock = threading.Lock()
_cached: dict[tuple[str, ...], tuple[float, SystemHealth]] = {}


def _run_one(check: Check) -> tuple[Any, Status, str, float]:
    started = time.perf_counter()
    try:
        value, status, output = check.run(), "pass", ""
    except CheckWarning as exc:
        value, status, output = exc.observed, "warn", str(exc)
    except Exception as exc:  # noqa: BLE001 - any error of a dependency is its failure
        value, status, output = None, "fail", redact_text(f"{type(exc).__name__}: {exc}")
    finally:
        # Each check runs in a pool thread with its own connection; do not leak it.
        connections.close_all()
    return value, status, output, time.perf_counter() - started


class HealthChecker:
    """Runs checks concurrently, each with its own timeout, caching the report per process."""

    def __init__(
        self,
        checks: tuple[Check, ...] = ALL_CHECKS,
        *,
        timeout: float | None = None,
        cache_seconds: float | None = None,
    ) -> None:
        self.checks = checks
        self.timeout = settings.HEALTH_CHECK_TIMEOUT if timeout is None else timeout
        self.cache_seconds = settings.HEALTH_CACHE_SECONDS if cache_seconds is None else cache_seconds

    def check_all_dependencies(self) -> SystemHealth:
        key = tuple(check.name for check in self.checks)
        now = time.monotonic()
        with _cache_lock:
            hit = _cached.get(key)
            if hit and now - hit[0] < self.cache_seconds:
                return hit[1]
        health = self._run()
        with _cache_lock:
            _cached[key] = (time.monotonic(), health)
        return health

    def _run(self) -> SystemHealth:
        started = time.perf_counter()
        futures = {check.name: (check, _executor.submit(_run_one, check)) for check in self.checks}
        health = SystemHealth()
        for name, (check, future) in futures.items():
            remaining = max(0.0, self.timeout - (time.perf_counter() - started))
            try:
                value, status, output, elapsed = future.result(timeout=remaining)
            except FutureTimeout:
                value, status, output, elapsed = None, "fail", f"timed out after {self.timeout:g} s", self.timeout
            health.checks[name] = CheckResult(
                name=name,
                status=status,
                component_type=check.component_type,
                critical=check.critical,
                response_time_ms=round(elapsed * 1000, 2),
                time=datetime.now(UTC).isoformat(timespec="seconds"),
                observed_value=value,
                observed_unit=check.observed_unit,
                output=output,
            )
            CHECK_DURATION.labels(name).observe(elapsed)
            CHECK_RUNS.labels(name, STATUS_WORDS[status]).inc()
            if status != "pass":
                logger.warning("health_check_not_passing", check=name, status=status, output=output)
        return health


def clear_cache() -> None:
    with _cache_lock:
        _cached.clear()
