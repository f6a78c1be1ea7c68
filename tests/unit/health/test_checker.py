from __future__ import annotations

import threading
import time

import pytest

from health.checks import Check, CheckWarning, HealthChecker


def _passing() -> None:
    return None


def _failing() -> None:
    raise ConnectionError("connection to redis://:secret-pass@cache.internal:6379 refused")


@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()


def test_checks_run_concurrently_and_a_hung_one_fails_on_its_own_timeout(release):
    def hangs() -> None:
        release.wait(10)

    checker = HealthChecker(
        (Check("slow", hangs, "component", critical=True), Check("fast", _passing, "datastore", critical=True)),
        timeout=0.3,
        cache_seconds=0,
    )
    started = time.monotonic()
    health = checker.check_all_dependencies()
    assert time.monotonic() - started < 1.0
    assert health.checks["slow"].status == "fail"
    assert health.checks["slow"].output == "timed out after 0.3 s"
    assert health.checks["fast"].status == "pass"
    assert health.overall_status == "fail"


def test_a_failing_optional_check_degrades_but_does_not_fail():
    checker = HealthChecker(
        (Check("db", _passing, "datastore", critical=True), Check("workers", _failing, "component", critical=False)),
        cache_seconds=0,
    )
    health = checker.check_all_dependencies()
    assert health.checks["workers"].status == "fail"
    assert health.overall_status == "warn"


def test_warnings_are_reported_as_warn():
    def warns() -> int:
        raise CheckWarning("2 migration(s) not applied")

    health = HealthChecker((Check("migrations", warns, "datastore", critical=False),), cache_seconds=0)
    result = health.check_all_dependencies().checks["migrations"]
    assert (result.status, result.output) == ("warn", "2 migration(s) not applied")


def test_error_texts_are_redacted():
    health = HealthChecker((Check("cache", _failing, "datastore", critical=True),), cache_seconds=0)
    output = health.check_all_dependencies().checks["cache"].output
    assert "secret-pass" not in output
    assert output.startswith("ConnectionError:")


def test_results_are_cached_for_the_configured_time():
    calls = []

    def counted() -> None:
        calls.append(1)

    checks = (Check("counted-cache-test", counted, "component", critical=True),)
    HealthChecker(checks, cache_seconds=30).check_all_dependencies()
    HealthChecker(checks, cache_seconds=30).check_all_dependencies()
    assert len(calls) == 1
    HealthChecker(checks, cache_seconds=0).check_all_dependencies()
    assert len(calls) == 2


def test_anonymous_json_carries_statuses_only():
    health = HealthChecker((Check("cache", _failing, "datastore", critical=True),), cache_seconds=0)
    report = health.check_all_dependencies()
    anonymous = report.as_json(detailed=False)["checks"]["cache"][0]
    assert set(anonymous) == {"componentType", "status", "time", "response_time_ms"}
    assert "output" in report.as_json(detailed=True)["checks"]["cache"][0]
