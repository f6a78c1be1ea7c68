"""The sweeper as a beat job: seeded as an editable periodic task, skipped while another run holds its lock."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from messaging.tasks import sweep_outbox
from reliability.dlq.locks import job_lock

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_the_sweeper_is_seeded_as_an_editable_periodic_task_every_minute():
    task = PeriodicTask.objects.get(name="Sweep the messaging outbox")
    assert (task.task, task.enabled) == ("messaging.sweep_outbox", True)
    assert (task.interval.every, task.interval.period) == (1, "minutes")


def test_a_sweep_while_another_run_holds_the_lock_skips(green, redis_client):
    with job_lock("messaging.sweep_outbox", timeout=60) as acquired:
        assert acquired
        assert sweep_outbox() == {"skipped": True}
    result = sweep_outbox()
    assert result["skipped"] is False
    assert result["outbound_lost"] == 0
