"""Replay tasks under real Celery time limits, in a real prefork worker (where time limits apply).

A task ends by itself before its time limit (one deadline per run), and a soft time limit
that still interrupts a handler is that letter's failure, never a worker killed mid-batch
whose letters would each be charged a "worker lost" attempt.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from reliability.dlq.models import DeadLetter, DeadLetterAttempt, DeadLetterStatus
from tests.integration.dlq.conftest import wait_for
from tests.integration.dlq.handlers import FINISHED_KEY, HANDLED_KEY, SLOW_TYPE

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAST = {"DLQ_REPLAY_RATE_PER_TYPE": "1000000"}


def slow_letters(seconds: list[float]) -> list[DeadLetter]:
    """Letters due now whose replay takes ``seconds[n]``, replayed in this order."""
    due = timezone.now() - timedelta(seconds=1)
    DeadLetter.objects.bulk_create(
        DeadLetter(
            message_type=SLOW_TYPE,
            payload={"n": n, "seconds": wait},
            error_class="TransientError",
            fingerprint="e" * 64,
            next_retry_at=due,
        )
        for n, wait in enumerate(seconds)
    )
    return list(DeadLetter.objects.order_by("id"))


def finished_state(redis_client, task_id: str, *, timeout: float) -> str:
    state = wait_for(lambda: redis_client.hget(FINISHED_KEY, task_id), timeout=timeout, what="the task to end")
    return state.decode()


def handled(redis_client) -> dict[int, int]:
    return {int(n): int(count) for n, count in redis_client.hgetall(HANDLED_KEY).items()}


def test_a_soft_time_limit_in_a_handler_is_that_letters_failure_and_the_rest_are_given_back(start_worker, redis_client):
    letters = slow_letters([60, 0, 0, 0])
    start_worker("soft", pool="prefork", **FAST)

    task = current_app.send_task(
        "replay_dead_letter_batch", kwargs={"batch_size": 10, "max_batches": 1}, soft_time_limit=2, time_limit=30
    )

    assert finished_state(redis_client, task.id, timeout=40) == "SUCCESS"
    interrupted, *rest = (DeadLetter.objects.get(pk=letter.pk) for letter in letters)
    assert (interrupted.status, interrupted.attempts) == (DeadLetterStatus.PENDING, 1)
    assert interrupted.error_class == "billiard.exceptions.SoftTimeLimitExceeded"
    assert [(letter.status, letter.attempts) for letter in rest] == [(DeadLetterStatus.PENDING, 0)] * 3
    assert handled(redis_client) == {}


def test_the_beat_job_stops_at_its_deadline_so_no_handler_is_interrupted_and_no_worker_lost(start_worker, redis_client):
    slow_letters([0.25] * 40)
    start_worker("deadline", pool="prefork", **FAST)

    task = current_app.send_task(
        "process_dead_letter_queue_batch",
        kwargs={"batch_size": 4, "max_batches": 50},
        soft_time_limit=4,
        time_limit=8,
    )

    assert finished_state(redis_client, task.id, timeout=40) == "SUCCESS"
    rows = list(DeadLetter.objects.values_list("status", "attempts"))
    resolved = rows.count((DeadLetterStatus.RESOLVED, 1))
    assert resolved + rows.count((DeadLetterStatus.PENDING, 0)) == 40, rows  # none failed, none left held
    assert 4 <= resolved < 40
    assert set(handled(redis_client).values()) == {1} and len(handled(redis_client)) == resolved
    assert set(DeadLetterAttempt.objects.values_list("outcome", flat=True)) == {"succeeded"}


def test_an_operators_bulk_replay_goes_on_in_a_new_run_after_its_deadline(start_worker, redis_client):
    letters = slow_letters([0.3] * 16)
    start_worker("bulk", pool="prefork", **FAST)

    task = current_app.send_task(
        "replay_dead_letters",
        kwargs={"letter_ids": [letter.pk for letter in letters], "channel": "admin"},
        soft_time_limit=3,
        time_limit=10,
    )

    assert finished_state(redis_client, task.id, timeout=40) == "SUCCESS"
    wait_for(
        lambda: not DeadLetter.objects.exclude(status=DeadLetterStatus.RESOLVED).exists(),
        timeout=40,
        what="the continuation to resolve the rest",
    )
    assert handled(redis_client) == {n: 1 for n in range(16)}
    # The continuation records its end after its last letter is resolved: wait for that too.
    runs = wait_for(
        lambda: len(finished := redis_client.hgetall(FINISHED_KEY)) >= 2 and finished,
        timeout=10,
        what="the continuation to end",
    )
    runs = {key.decode(): state.decode() for key, state in runs.items()}
    assert len(runs) == 2 and set(runs.values()) == {"SUCCESS"}  # the run and its continuation
    assert set(DeadLetterAttempt.objects.values_list("outcome", flat=True)) == {"succeeded"}
