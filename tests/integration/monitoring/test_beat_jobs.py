"""The monitoring jobs are seeded as editable periodic tasks with stable names of tasks the workers know."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from config.celery import app

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.mark.parametrize(
    ("name", "task", "minutes"),
    [
        ("Run the health checks", "health_check_monitoring", 1),
        ("Monitor the circuit breakers", "monitor_circuit_breakers", 2),
    ],
)
def test_the_job_is_seeded_as_an_enabled_periodic_task(name, task, minutes):
    row = PeriodicTask.objects.get(name=name)

    assert (row.task, row.enabled) == (task, True)
    assert (row.interval.every, row.interval.period) == (minutes, "minutes")
    assert row.expire_seconds == minutes * 60
    # The stored name is a task a worker knows.
    app.loader.import_default_modules()
    assert task in app.tasks
