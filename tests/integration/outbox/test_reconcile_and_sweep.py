"""Unknown outcomes settled from the journal (or sent again when surely absent), and the sweeper."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import OutboundMessage, ProcessingStatus, WebhookEvent
from messaging.models import OutboundStatus as S
from messaging.services.reconcile import outbox_reconcile_unknown
from messaging.services.sweeper import outbox_sweep
from reliability.dlq.models import DeadLetter, DeadLetterStatus
from tests.httpserver import Reply
from tests.integration.outbox.rows import CHAT, ago, outbound, stored
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

JOURNAL = "/lastOutgoingMessages/"


def entry(text: str, id_message: str, *, chat_id: str = CHAT, status: str = "sent", by_api: bool = True, at=None):
    return {
        "type": "outgoing",
        "idMessage": id_message,
        "timestamp": int((at or timezone.now()).timestamp()),
        "statusMessage": status,
        "typeMessage": "textMessage",
        "chatId": chat_id,
        "textMessage": text,
        "sendByApi": by_api,
    }


def unknown(text: str = "We are on it", *, since: float = 300, **fields) -> OutboundMessage:
    return outbound(S.UNKNOWN, text=text, sending_at=ago(since + 5), updated_at=ago(since), **fields)


def queued_tasks(redis_client) -> list[tuple[str, list]]:
    """(task name, args) of every message waiting in the Celery queue."""
    found = []
    for raw in redis_client.lrange("celery", 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        found.append((message["headers"]["task"], args))
    return found


def test_an_unknown_row_found_in_the_journal_is_settled_with_its_id_and_status(green):
    row = unknown()
    green.queue(Reply(json=[entry("We are on it", "J1", status="delivered")]), path=JOURNAL)
    assert outbox_reconcile_unknown(limit=10)["found"] == 1
    row.refresh_from_db()
    assert (row.status, row.id_message) == (S.DELIVERED, "J1")
    assert green.count("/sendMessage/") == 0


def test_the_journal_is_read_once_for_every_unknown_row_of_a_sweep(green):
    rows = [unknown(f"reply {n}") for n in range(5)]
    green.queue(Reply(json=[entry(f"reply {n}", f"J{n}") for n in range(5)]), path=JOURNAL)
    stats = outbox_reconcile_unknown(limit=10)
    assert (stats["found"], stats["journal_calls"]) == (5, 1)
    assert green.count(JOURNAL) == 1
    minutes = int(green.received(JOURNAL)[0].query["minutes"][0])
    assert 6 <= minutes <= 8, "the window reaches back to the oldest row's request"
    assert {row.status for row in OutboundMessage.objects.filter(pk__in=[r.pk for r in rows])} == {S.SENT}


def test_a_row_surely_absent_from_the_journal_is_sent_again(
    green, settings, redis_client, django_capture_on_commit_callbacks
):
    settings.GREEN_API_JOURNAL_LAG_SECONDS = 120
    row = unknown(since=150)
    green.queue(Reply(json=[entry("another text", "J9"), entry("We are on it", "J8", by_api=False)]), path=JOURNAL)
    with django_capture_on_commit_callbacks(execute=True):
        stats = outbox_reconcile_unknown(limit=10)
    assert stats["absent"] == 1
    row.refresh_from_db()
    assert (row.status, row.next_attempt_at) == (S.QUEUED, None)
    assert row.last_error == "not found in Green API's journal: sending again"
    assert ("messaging.send_outbound_message", [row.pk]) in queued_tasks(redis_client)


def test_a_row_not_yet_older_than_the_journal_lag_waits(green, settings):
    settings.GREEN_API_JOURNAL_LAG_SECONDS = 120
    row = unknown(since=30)
    green.queue(Reply(json=[]), path=JOURNAL)
    assert outbox_reconcile_unknown(limit=10)["waiting"] == 1
    row.refresh_from_db()
    assert row.status == S.UNKNOWN


def test_a_journal_message_older_than_the_rows_request_or_already_owned_settles_nothing(green, settings):
    settings.GREEN_API_JOURNAL_LAG_SECONDS = 120
    outbound(S.SENT, text="Thanks!", id_message="OWNED")
    row = unknown("Thanks!", since=30)
    green.queue(Reply(json=[entry("Thanks!", "OWNED"), entry("Thanks!", "OLD", at=ago(3600))]), path=JOURNAL)
    assert outbox_reconcile_unknown(limit=10)["waiting"] == 1
    row.refresh_from_db()
    assert row.status == S.UNKNOWN


def test_two_unknown_rows_with_one_text_take_two_journal_messages_or_wait(green, settings):
    settings.GREEN_API_JOURNAL_LAG_SECONDS = 120
    first, second = unknown("Thanks!", since=30), unknown("Thanks!", since=20)
    green.queue(Reply(json=[entry("Thanks!", "ONLY")]), path=JOURNAL)
    stats = outbox_reconcile_unknown(limit=10)
    assert (stats["found"], stats["waiting"]) == (1, 1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.id_message, second.status) == (S.SENT, "ONLY", S.UNKNOWN)


def test_when_the_journal_cannot_be_read_nothing_is_decided(green):
    row = unknown(since=600)
    green.queue(Reply(status=500), Reply(status=500), path=JOURNAL)
    stats = outbox_reconcile_unknown(limit=10)
    assert stats["waiting"] == 1
    row.refresh_from_db()
    assert row.status == S.UNKNOWN
    assert green.count("/sendMessage/") == 0


def test_a_stored_echo_settles_a_row_without_calling_green_api(green):
    row = unknown()
    stored(bodies.outgoing_api_message("We are on it", id_message="E1"))
    assert outbox_reconcile_unknown(limit=10) == {"found": 1, "absent": 0, "waiting": 0, "journal_calls": 0}
    assert green.count() == 0
    row.refresh_from_db()
    assert row.id_message == "E1"


def test_the_sweeper_sends_again_what_the_broker_lost(green, settings, redis_client):
    settings.OUTBOX_REDISPATCH_AFTER_SECONDS = 60
    event = WebhookEvent.objects.get(pk=stored(bodies.incoming_text()).pk)
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=ago(120))
    fresh_event = stored(bodies.incoming_text("new"))
    lost_row = outbound(queued_at=ago(120))
    late_retry = outbound(queued_at=ago(600), next_attempt_at=ago(90))
    waiting_retry = outbound(queued_at=ago(600), next_attempt_at=timezone.now() + timedelta(seconds=30))
    stats = outbox_sweep()
    assert (stats["events_redispatched"], stats["outbound_redispatched"]) == (1, 2)
    tasks = queued_tasks(redis_client)
    assert ("messaging.process_webhook_event", [event.pk]) in tasks
    assert ("messaging.process_webhook_event", [fresh_event.pk]) not in tasks
    assert {args[0] for name, args in tasks if name == "messaging.send_outbound_message"} == {
        lost_row.pk,
        late_retry.pk,
    }
    assert waiting_retry.pk not in {args[0] for _, args in tasks}


def test_the_sweeper_treats_rows_stuck_in_sending_as_unknown(green, settings):
    settings.OUTBOX_SENDING_STALE_SECONDS = 60
    stuck = outbound(S.SENDING, sending_at=ago(120))
    busy = outbound(S.SENDING, sending_at=ago(10))
    green.queue(Reply(json=[]), path=JOURNAL)
    assert outbox_sweep()["outbound_lost"] == 1
    stuck.refresh_from_db()
    busy.refresh_from_db()
    assert (stuck.status, busy.status) == (S.UNKNOWN, S.SENDING)
    assert green.count("/sendMessage/") == 0


def test_a_row_unknown_for_a_day_fails_into_the_dead_letter_queue_for_an_operator(green):
    row = unknown(since=24 * 3600)
    green.queue(Reply(status=500), Reply(status=500), path=JOURNAL)
    assert outbox_sweep()["outbound_given_up"] == 1
    row.refresh_from_db()
    assert row.status == S.FAILED and "outcome unknown for a day" in row.last_error
    letter = DeadLetter.objects.get()
    assert (letter.message_type, letter.status, letter.payload["args"]) == (
        "whatsapp_message",
        DeadLetterStatus.EXHAUSTED,
        [row.pk],
    )


def test_processing_left_pending_by_a_lost_task_is_not_redone_by_a_second_copy():
    from messaging.services.pipeline import webhook_event_process

    event = stored(bodies.state_changed("blocked", timestamp=int(time.time())))
    assert webhook_event_process(event_id=event.pk) == "recorded"
    assert webhook_event_process(event_id=event.pk) == "skipped"
    event.refresh_from_db()
    assert event.processing_status == ProcessingStatus.PROCESSED
