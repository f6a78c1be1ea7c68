"""Real Celery workers announce themselves: celery_workers_alive counts them, also from another process."""

from __future__ import annotations

import pytest

from health.models import WorkerHeartbeat
from tests.integration.dlq.conftest import wait_for
from tests.integration.monitoring.conftest import sample

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def alive() -> float | None:
    return sample("celery_workers_alive")


def test_a_running_worker_counts_and_a_cleanly_stopped_one_stops_counting_at_once(start_worker, settings):
    assert alive() == 0
    worker = start_worker("beating", pool="prefork", WORKER_HEARTBEAT_SECONDS="1")

    row = wait_for(lambda: WorkerHeartbeat.objects.filter(hostname__startswith="beating@").first(), timeout=30,
                   what="the worker's heartbeat")  # fmt: skip
    assert row.pid == worker.process.pid
    assert alive() == 1
    first_seen = row.last_seen
    wait_for(lambda: WorkerHeartbeat.objects.get(pk=row.pk).last_seen > first_seen, timeout=30, what="a second beat")

    worker.stop()

    assert worker.process.returncode == 0
    assert not WorkerHeartbeat.objects.filter(hostname__startswith="beating@").exists()
    assert alive() == 0


def test_a_killed_worker_stops_counting_once_its_heartbeat_is_four_intervals_old(start_worker, settings):
    settings.WORKER_HEARTBEAT_SECONDS = 1
    worker = start_worker("killed", WORKER_HEARTBEAT_SECONDS="1")
    wait_for(lambda: alive() == 1, timeout=30, what="the worker counted")

    worker.kill()

    assert WorkerHeartbeat.objects.filter(hostname__startswith="killed@").exists()
    wait_for(lambda: alive() == 0, timeout=30, what="the killed worker no longer counted")
