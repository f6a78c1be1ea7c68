"""The health monitor job: runs every check, stores the results, and the scrape reports them."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from health.checks import ALL_CHECKS
from health.models import HealthCheckResult
from health.selectors import health_results_latest
from health.tasks import health_check_monitoring
from reliability.dlq.locks import job_lock
from tests.integration.monitoring.conftest import sample

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_the_monitor_stores_every_check_and_the_scrape_reports_the_stored_results(green_api):
    healthy_before = sample("health_check_total", {"check": "database", "status": "healthy"})

    result = health_check_monitoring()

    assert result["skipped"] is False
    assert set(result["checks"]) == {check.name for check in ALL_CHECKS}
    assert set(HealthCheckResult.objects.values_list("name", flat=True)) == {check.name for check in ALL_CHECKS}
    assert sample("health_check_status", {"check": "database"}) == 1.0
    assert sample("health_check_status", {"check": "green_api"}) == 1.0
    # No Celery worker runs in this test: the check warns.
    assert result["checks"]["celery_workers"] == "warn"
    assert sample("health_check_status", {"check": "celery_workers"}) == 0.5
    last_run = sample("health_check_last_run_timestamp_seconds", {"check": "database"})
    assert time.time() - 60 < last_run <= time.time()
    assert sample("health_check_total", {"check": "database", "status": "healthy"}) == healthy_before + 1


def test_the_scrape_reports_what_is_stored_not_what_this_process_last_saw(green_api):
    health_check_monitoring()
    # Another process's monitor run found the database failing.
    HealthCheckResult.objects.filter(name="database").update(status="fail", checked_at=timezone.now())

    assert sample("health_check_status", {"check": "database"}) == 0.0


def test_the_stored_results_read_back_as_the_checker_reports_them(green_api):
    result = health_check_monitoring()

    latest = health_results_latest()

    assert {name: check.status for name, check in latest.checks.items()} == result["checks"]
    assert latest.overall_status == result["status"]
    assert latest.as_json(detailed=False)["checks"]["database"][0]["status"] == "pass"


def test_a_check_that_no_longer_exists_is_forgotten_by_the_next_run(green_api):
    HealthCheckResult.objects.create(
        name="retired_check", status="fail", critical=True, component_type="component",
        response_time_ms=1.0, checked_at=timezone.now(),
    )  # fmt: skip

    health_check_monitoring()

    assert not HealthCheckResult.objects.filter(name="retired_check").exists()
    assert sample("health_check_status", {"check": "retired_check"}) is None


def test_a_run_while_another_holds_the_lock_skips_and_stores_nothing(green_api):
    with job_lock("health_check_monitoring", timeout=60) as acquired:
        assert acquired
        assert health_check_monitoring() == {"skipped": True}
    assert not HealthCheckResult.objects.exists()
    assert health_check_monitoring()["skipped"] is False
