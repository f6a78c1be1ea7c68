from __future__ import annotations

import pytest
from django.core.cache import cache
from django_celery_beat.models import PeriodicTask

from reliability.dlq.models import DeadLetter, DeadLetterStatus
from reliability.dlq.services import dead_letter_add, dead_letter_replay
from reliability.errors import PermanentError, TransientError
from reliability.tasks import cleanup_old_dlq_messages, process_dead_letter_queue_batch
from tests.integration.dlq.handlers import validate_chat, validate_phone

pytestmark = pytest.mark.django_db


def test_a_task_failing_for_good_lands_in_the_dlq_with_its_arguments_and_traceback():
    result = validate_chat.apply(args=["79001234567"])
    assert result.failed()
    letter = DeadLetter.objects.get()
    assert letter.message_type == "dlq_test_whatsapp"
    assert letter.source == "tests.dlq.validate_chat"
    assert letter.payload == {
        "task": "tests.dlq.validate_chat",
        "task_id": result.id,
        "args": ["79001234567"],
        "kwargs": {},
    }
    assert letter.status == DeadLetterStatus.EXHAUSTED  # permanent: for an operator
    assert letter.max_retries == 3
    assert "PermanentError" in letter.traceback and "validate_chat" in letter.traceback


def test_a_captured_task_replays_by_running_the_task_again():
    validate_chat.apply(args=["79001234567"])
    letter = DeadLetter.objects.get()
    DeadLetter.objects.filter(pk=letter.pk).update(payload={**letter.payload, "args": ["79001234567@c.us"]})
    assert dead_letter_replay(letter_id=letter.pk).resolved


def test_a_succeeding_task_leaves_no_letter():
    assert validate_chat.apply(args=["79001234567@c.us"]).successful()
    assert not DeadLetter.objects.exists()


def test_beat_jobs_are_seeded_as_editable_periodic_tasks():
    batch = PeriodicTask.objects.get(task="process_dead_letter_queue_batch")
    assert (batch.interval.every, batch.interval.period, batch.enabled) == (5, "minutes", True)
    cleanup = PeriodicTask.objects.get(task="cleanup_old_dlq_messages")
    assert (cleanup.crontab.minute, cleanup.crontab.hour) == ("30", "3")


def test_batch_job_skips_while_another_run_holds_its_lock(redis_client, make_due, handlers):
    handlers["whatsapp_message"] = lambda payload: None
    letter = dead_letter_add(message_type="whatsapp_message", payload={}, error=TransientError("x"))
    make_due(letter)
    lock = cache.lock("dlq:job-lock:process_dead_letter_queue_batch", timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert process_dead_letter_queue_batch(batch_size=5) == {"skipped": True}
    finally:
        lock.release()
    totals = process_dead_letter_queue_batch(batch_size=5)
    assert (totals["skipped"], totals["resolved"], totals["batches"]) == (False, 1, 1)


def test_cleanup_job_skips_while_locked_and_runs_otherwise(redis_client):
    lock = cache.lock("dlq:job-lock:cleanup_old_dlq_messages", timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert cleanup_old_dlq_messages() == {"skipped": True}
    finally:
        lock.release()
    assert cleanup_old_dlq_messages() == {"skipped": False, "deleted": 0}


def test_permanent_error_class_is_kept_for_operators():
    validate_chat.apply(args=["bad"])
    assert DeadLetter.objects.get().error_class == f"{PermanentError.__module__}.PermanentError"


def test_batch_job_stops_when_the_replay_rate_holds_everything_back(settings, make_due, handlers):
    settings.DLQ_REPLAY_RATE_PER_TYPE = 1.0
    handlers["whatsapp_message"] = lambda payload: None
    for _ in range(6):
        make_due(dead_letter_add(message_type="whatsapp_message", payload={}, error=TransientError("x")))
    totals = process_dead_letter_queue_batch(batch_size=2)
    assert (totals["resolved"], totals["batches"]) == (1, 2)
    assert DeadLetter.objects.filter(status=DeadLetterStatus.PENDING, attempts=0).count() == 5


def test_a_task_that_cannot_be_dead_lettered_is_sent_again_later(monkeypatch):
    from django.db import OperationalError

    from reliability import tasks

    def database_down(**kwargs):
        raise OperationalError("connection refused")

    sent = []
    monkeypatch.setattr(tasks, "dead_letter_add", database_down)
    monkeypatch.setattr(validate_chat, "apply_async", lambda **kwargs: sent.append(kwargs))
    validate_chat.apply(args=["79001234567"])
    assert sent == [{"args": ["79001234567"], "kwargs": {}, "countdown": tasks.CAPTURE_RETRY_SECONDS}]


def test_tasks_sharing_a_message_type_each_replay_their_own_body():
    validate_chat.apply(args=["79001234567"])
    validate_phone.apply(args=["+7 900"])
    chat, phone = DeadLetter.objects.order_by("id")
    assert chat.message_type == phone.message_type == "dlq_test_whatsapp"
    DeadLetter.objects.filter(pk=chat.pk).update(payload={**chat.payload, "args": ["79001234567@c.us"]})
    DeadLetter.objects.filter(pk=phone.pk).update(payload={**phone.payload, "args": ["7900"]})
    assert dead_letter_replay(letter_id=chat.pk).resolved
    assert dead_letter_replay(letter_id=phone.pk).resolved


def test_a_redelivered_task_failing_again_adds_to_its_letter_instead_of_a_second_one():
    # A worker killed after storing the letter but before acknowledging the message
    # gets the same message (same task id) again; replaying two letters would do the
    # work twice.
    first = validate_chat.apply(args=["79001234567"], task_id="redelivered-task-1")
    again = validate_chat.apply(args=["79001234567"], task_id="redelivered-task-1")
    assert first.failed() and again.failed()
    letter = DeadLetter.objects.get()
    assert letter.dedupe_key == "celery:redelivered-task-1"
    reasons = list(letter.history.values_list("reason", flat=True))
    assert len(reasons) == 2
    assert reasons[1].startswith("captured again (redelivered)")


def test_different_task_runs_get_letters_of_their_own():
    validate_chat.apply(args=["79001234567"])
    validate_chat.apply(args=["79001234567"])
    assert DeadLetter.objects.count() == 2
