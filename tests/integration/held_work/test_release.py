"""The release of held work: enqueued when the level drops, run by the sweeper too, each held
event and row handed on once, in bounded batches, as far as the gates allow."""

from __future__ import annotations

import pytest

from messaging.models import OutboundMessage, ProcessingStatus, Trigger, WebhookEvent
from messaging.models import OutboundStatus as S
from messaging.services.dispatch import PROCESS_TASK, RELEASE_TASK, SEND_TASK
from messaging.services.outbox import outbound_send
from messaging.services.pipeline import webhook_event_process
from messaging.services.release import held_work_release
from messaging.services.sweeper import outbox_sweep
from reliability.dlq.locks import job_lock
from tests.integration.outbox.rows import CHAT, outbound, stored
from tests.integration.outbox.test_reconcile_and_sweep import queued_tasks
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def held(level, green):
    """At critical: a text and a status event stored held, and ``rows`` outbound rows held."""

    def make(rows: int = 1) -> tuple[list[WebhookEvent], list[OutboundMessage]]:
        level.set("critical")
        events = [
            stored(bodies.incoming_text("My order never arrived")),
            stored(bodies.outgoing_status("read", id_message="3EB0CCCC000000000001")),
        ]
        outbox = [outbound(text=f"reply {n}") for n in range(rows)]
        for row in outbox:
            assert outbound_send(outbound_id=row.pk).outcome == "held"
        return events, outbox

    return make


@pytest.fixture
def released(redis_client, django_capture_on_commit_callbacks):
    """``released(**kwargs)``: one release run (its tasks published after its commits) and what it queued."""

    def run(**kwargs):
        redis_client.delete("celery")
        with django_capture_on_commit_callbacks(execute=True):
            result = held_work_release(**kwargs)
        return result, queued_tasks(redis_client)

    return run


def test_a_drop_of_the_level_enqueues_one_release_task_and_a_rise_none(level, redis_client):
    level.set("severe")
    assert queued_tasks(redis_client) == []
    level.clear()
    assert queued_tasks(redis_client) == [(RELEASE_TASK, [])]


def test_the_release_hands_back_each_held_event_and_row_once(held, level, released):
    events, rows = held(rows=2)
    level.clear()
    result, tasks = released()
    assert result == {"skipped": False, "events_released": 2, "outbound_released": 2, "more": False}
    assert sorted(tasks) == sorted([(PROCESS_TASK, [e.pk]) for e in events] + [(SEND_TASK, [r.pk]) for r in rows])
    assert set(WebhookEvent.objects.values_list("processing_status", flat=True)) == {ProcessingStatus.PENDING}
    for row in OutboundMessage.objects.all():
        assert (row.status, row.held_at, row.next_attempt_at, row.last_error, row.attempts) == (
            S.QUEUED,
            None,
            None,
            "",
            0,
        )
    again, tasks = released()
    assert (again["events_released"], again["outbound_released"], tasks) == (0, 0, [])


def test_the_release_goes_only_as_far_as_the_gates_allow(held, level, released):
    (text, status), rows = held()
    level.set("severe")  # webhook processing runs again; automatic replies and sending do not
    result, tasks = released()
    assert (result["events_released"], result["outbound_released"]) == (1, 0)
    assert tasks == [(PROCESS_TASK, [status.pk])]
    text.refresh_from_db()
    assert text.processing_status == ProcessingStatus.HELD
    assert OutboundMessage.objects.get().held_at is not None


def test_a_release_hands_back_bounded_batches_and_enqueues_the_next(held, level, released):
    held(rows=3)
    level.clear()
    first, tasks = released(batch=2)
    assert (first["events_released"], first["outbound_released"], first["more"]) == (2, 2, True)
    assert (RELEASE_TASK, []) in tasks
    second, tasks = released(batch=2)
    assert (second["events_released"], second["outbound_released"], second["more"]) == (0, 1, False)
    assert RELEASE_TASK not in [name for name, _ in tasks]


def test_a_release_skips_while_another_run_holds_its_lock(held, level):
    held()
    level.clear()
    with job_lock(RELEASE_TASK, timeout=60) as acquired:
        assert acquired
        assert held_work_release() == {"skipped": True}
    assert OutboundMessage.objects.get().held_at is not None


def test_the_sweeper_releases_held_work_so_that_nothing_depends_on_the_signal(
    held, level, redis_client, django_capture_on_commit_callbacks
):
    events, rows = held()
    level.clear()
    redis_client.delete("celery")  # the release task the signal enqueued is lost
    with django_capture_on_commit_callbacks(execute=True):
        stats = outbox_sweep()
    assert (stats["events_released"], stats["outbound_released"]) == (2, 1)
    assert sorted(queued_tasks(redis_client)) == sorted(
        [(PROCESS_TASK, [e.pk]) for e in events] + [(SEND_TASK, [rows[0].pk])]
    )


def test_a_released_text_gets_its_one_reply_sent_once(held, level, released, green, deepseek):
    Trigger.objects.create(name="orders", keywords=["order"], reply_template="We are on it")
    (text, _), _ = held(rows=0)
    level.clear()
    released()
    assert webhook_event_process(event_id=text.pk) == "replied"
    reply = OutboundMessage.objects.get()
    assert (reply.chat_id, reply.text) == (CHAT, "We are on it")
    assert outbound_send(outbound_id=reply.pk).outcome == "sent"
    assert outbound_send(outbound_id=reply.pk).outcome == "skipped"
    assert green.count("/sendMessage/") == 1
