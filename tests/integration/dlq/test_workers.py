"""Real worker processes: concurrent replay, a SIGKILLed worker, capture of a failing task."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import timedelta

import pytest
from celery import current_app
from django.db import connection
from django.utils import timezone

from reliability.dlq.models import DeadLetter, DeadLetterStatus
from tests.integration.dlq.conftest import wait_for
from tests.integration.dlq.handlers import COUNTED_TYPE, GREEN_API_TOKEN, HANDLED_KEY, PIDS_KEY

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_two_workers_replaying_1000_letters_handle_each_exactly_once(start_worker, redis_client):
    due = timezone.now() - timedelta(seconds=1)
    DeadLetter.objects.bulk_create(
        DeadLetter(
            message_type=COUNTED_TYPE,
            payload={"n": n},
            error_class="TransientError",
            fingerprint="f" * 64,
            next_retry_at=due,
        )
        for n in range(1000)
    )
    env = {"DLQ_REPLAY_RATE_PER_TYPE": "1000000"}
    start_worker("replay1", **env)
    start_worker("replay2", **env)
    for _ in range(4):
        current_app.send_task("replay_dead_letter_batch", kwargs={"batch_size": 20, "max_batches": 1000})

    wait_for(
        lambda: not DeadLetter.objects.exclude(status=DeadLetterStatus.RESOLVED).exists(),
        timeout=60,
        what="all 1000 letters resolved",
        interval=0.2,
    )
    handled = {int(n): int(count) for n, count in redis_client.hgetall(HANDLED_KEY).items()}
    assert sorted(handled) == list(range(1000))
    assert [n for n, count in handled.items() if count != 1] == []
    per_process = [int(count) for count in redis_client.hgetall(PIDS_KEY).values()]
    assert len(per_process) == 2 and all(per_process), f"both workers must take part: {per_process}"
    assert sum(per_process) == 1000
    assert set(DeadLetter.objects.values_list("attempts", flat=True)) == {1}


def test_a_worker_killed_mid_task_means_redelivery_not_a_lost_message(start_worker, redis_client):
    visibility = "2"
    first = start_worker("doomed", CELERY_VISIBILITY_TIMEOUT=visibility)
    current_app.send_task("tests.dlq.slow_until_redelivered", args=["job-1"])
    wait_for(lambda: redis_client.get("job-1:started"), timeout=20, what="the task to start")
    first.kill()
    time.sleep(float(visibility) + 0.5)  # the unacked message becomes visible again
    start_worker("rescuer", CELERY_VISIBILITY_TIMEOUT=visibility)
    done_by = wait_for(lambda: redis_client.get("job-1:done"), timeout=30, what="the redelivered task to finish")
    assert done_by != redis_client.get("job-1:started")
    assert not DeadLetter.objects.exists()


def test_a_pool_process_killed_mid_task_means_redelivery_and_a_final_failure_lands_in_the_dlq(
    start_worker, redis_client
):
    start_worker("prefork", pool="prefork")
    current_app.send_task("tests.dlq.fail_after_redelivery", args=["job-2"])
    child = int(wait_for(lambda: redis_client.get("job-2:started"), timeout=20, what="the task to start"))
    os.kill(child, signal.SIGKILL)  # the pool process, mid-task; the worker's main process lives on
    letter = wait_for(lambda: DeadLetter.objects.first(), timeout=30, what="the redelivered task's dead letter")
    assert letter.source == "tests.dlq.fail_after_redelivery"
    assert letter.payload["args"] == ["job-2"]
    assert (letter.status, letter.failure_kind) == (DeadLetterStatus.EXHAUSTED, "permanent")


def test_a_task_failing_with_a_token_in_its_error_leaves_no_token_in_the_stored_letter(start_worker):
    start_worker("capture")
    current_app.send_task(
        "tests.dlq.send_with_token_in_url",
        args=["79001234567@c.us"],
        kwargs={"token": GREEN_API_TOKEN},
    )
    letter = wait_for(lambda: DeadLetter.objects.first(), timeout=30, what="the failed task's dead letter")
    assert letter.source == "tests.dlq.send_with_token_in_url"
    assert letter.payload["args"] == ["79001234567@c.us"]
    assert letter.payload["kwargs"] == {"token": "[REDACTED]"}
    assert "sendMessage/[REDACTED]" in letter.error_message
    assert "Traceback" in letter.traceback
    # Every column of the letter and of its history, as PostgreSQL stores them.
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(d)::text FROM reliability_deadletter d")
        rows = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT row_to_json(a)::text FROM reliability_deadletterattempt a")
        rows += [row[0] for row in cursor.fetchall()]
    assert len(rows) == 2
    stored = "\n".join(rows)
    assert "sendMessage/[REDACTED]" in json.loads(rows[0])["first_error"]["message"]
    assert GREEN_API_TOKEN not in stored
    assert GREEN_API_TOKEN[:16] not in stored
