"""Replays inside a time limit: one deadline per run, and the soft limit as a letter's failure.

Handlers move the fake clock on as if they took that long; the deadline is a time on
that clock. Real worker processes with real time limits are in tests/integration/dlq.
"""

from __future__ import annotations

import pytest
from billiard.exceptions import SoftTimeLimitExceeded

from reliability.dlq.models import DeadLetter, DeadLetterAttempt, DeadLetterStatus
from reliability.dlq.services import (
    dead_letter_add,
    dead_letter_replay_batch,
    dead_letter_replay_due,
    dead_letter_replay_many,
)
from reliability.errors import TransientError
from reliability.tasks import process_dead_letter_queue_batch, task_deadline
from tests.clock import FakeClock

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def letters(make_due):
    """Five due letters, replayed oldest first."""
    made = [dead_letter_add(message_type="slow_message", payload={"n": n}, error=TransientError("x")) for n in range(5)]
    for letter in made:
        make_due(letter)
    return made


@pytest.fixture
def handled(handlers, clock):
    """Each handling takes one second on the fake clock; returns the payload numbers handled."""
    seen: list[int] = []

    def one_second(payload):
        seen.append(payload["n"])
        clock.advance(1.0)

    handlers["slow_message"] = one_second
    return seen


def state(letter: DeadLetter) -> tuple[str, int]:
    letter.refresh_from_db()
    return letter.status, letter.attempts


def test_no_handler_starts_after_the_deadline_and_the_rest_is_given_back(letters, handled, clock):
    stats = dead_letter_replay_batch(batch_size=10, deadline=clock.now + 1.5, clock=clock)

    assert handled == [0, 1]
    assert (stats["claimed"], stats["resolved"], stats["released"]) == (5, 2, 3)
    assert [state(letter) for letter in letters] == [("resolved", 1)] * 2 + [("pending", 0)] * 3


def test_a_soft_time_limit_in_a_handler_is_that_letters_failure_and_the_batch_stops(letters, handlers):
    ran = []

    def interrupted_at_the_second(payload):
        ran.append(payload["n"])
        if payload["n"] == 1:
            raise SoftTimeLimitExceeded()

    handlers["slow_message"] = interrupted_at_the_second
    stats = dead_letter_replay_batch(batch_size=10)

    assert ran == [0, 1]
    assert (stats["resolved"], stats["failed"], stats["released"]) == (1, 1, 3)
    assert [state(letter) for letter in letters] == [("resolved", 1), ("pending", 1)] + [("pending", 0)] * 3
    last = DeadLetterAttempt.objects.filter(letter=letters[1]).last()
    assert (last.outcome, last.error_class) == ("failed", "billiard.exceptions.SoftTimeLimitExceeded")
    assert not DeadLetter.objects.filter(status=DeadLetterStatus.RETRYING).exists()


def test_a_run_of_batches_stops_claiming_at_its_one_deadline(letters, handled, clock):
    totals = dead_letter_replay_due(batch_size=2, max_batches=10, deadline=clock.now + 2.5, clock=clock)

    # Batch one: letters 0 and 1 (clock at 2.0). Batch two is claimed before 2.5, letter 2
    # runs, letter 3 is given back; no third batch is claimed.
    assert handled == [0, 1, 2]
    assert (totals["batches"], totals["claimed"], totals["resolved"], totals["released"]) == (2, 4, 3, 1)
    assert [state(letter) for letter in letters] == [("resolved", 1)] * 3 + [("pending", 0)] * 2


def test_a_bulk_replay_leaves_what_the_deadline_did_not_reach_unstarted(letters, handled, clock):
    result = dead_letter_replay_many(
        letter_ids=[letter.pk for letter in letters], channel="cli", deadline=clock.now + 1.5, clock=clock
    )

    assert handled == [0, 1]
    assert result.unstarted == [letter.pk for letter in letters[2:]]
    assert [state(letter) for letter in letters[2:]] == [("pending", 0)] * 3


def test_the_deadline_is_a_quarter_of_the_time_limit_before_it(clock, settings):
    task = process_dead_letter_queue_batch
    task.push_request(timelimit=(10, 8))  # a call's own limits: hard 10 s, soft 8 s
    try:
        assert task_deadline(task, clock=clock) == clock.now + 6
    finally:
        task.pop_request()
    task.push_request(timelimit=(4, None))  # a hard limit below the app's soft one comes first
    try:
        assert task_deadline(task, clock=clock) == clock.now + 3
    finally:
        task.pop_request()
    # Without limits of its own, a run has the app's (CELERY_TASK_SOFT_TIME_LIMIT).
    assert task.soft_time_limit == settings.CELERY_TASK_SOFT_TIME_LIMIT == settings.CELERY_TASK_TIME_LIMIT - 30
    assert task_deadline(task, clock=clock) == clock.now + settings.CELERY_TASK_SOFT_TIME_LIMIT * 0.75


def test_no_time_limit_means_no_deadline(clock, monkeypatch):
    task = process_dead_letter_queue_batch
    monkeypatch.setattr(task, "soft_time_limit", None)
    monkeypatch.setattr(task, "time_limit", None)
    assert task_deadline(task, clock=clock) is None
