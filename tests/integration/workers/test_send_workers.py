"""Sending in real worker processes: races, a SIGKILLed worker, an open breaker, failures into the DLQ."""

from __future__ import annotations

import os
import signal
import time

import pytest
from celery import current_app
from django.utils import timezone

from messaging.models import OutboundMessage
from messaging.models import OutboundStatus as S
from messaging.services.outbox import outbound_create
from reliability.breaker import get_circuit_breaker
from reliability.dlq.exceptions import DeadLetterStateError
from reliability.dlq.models import DeadLetter, DeadLetterStatus
from reliability.dlq.services import dead_letter_replay
from tests.httpserver import Reply
from tests.integration.dlq.conftest import wait_for
from tests.integration.outbox.rows import CHAT

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SEND = "/sendMessage/"
JOURNAL = "/lastOutgoingMessages/"


def status_of(row: OutboundMessage) -> str:
    row.refresh_from_db()
    return row.status


def send_task(row_id: int) -> None:
    current_app.send_task("messaging.send_outbound_message", args=[row_id])


def test_two_workers_given_the_same_row_many_times_send_it_once(messaging_worker, green):
    messaging_worker("race1")
    messaging_worker("race2")
    rows = [outbound_create(chat_id=CHAT, text=f"reply {n}") for n in range(20)]  # each published once on commit
    for row in rows:
        for _ in range(4):
            send_task(row.pk)
    wait_for(lambda: OutboundMessage.objects.filter(status=S.SENT).count() == 20, timeout=60, what="all 20 rows sent")
    time.sleep(1)  # every copy of every task has run by now
    texts = sorted(request.json()["message"] for request in green.received(SEND))
    assert texts == sorted(f"reply {n}" for n in range(20))
    assert set(OutboundMessage.objects.values_list("attempts", flat=True)) == {1}


def test_a_worker_killed_mid_send_ends_with_the_message_sent_once_after_reconciliation(
    messaging_worker, green, redis_client
):
    green.queue(Reply(delay=30, json={"idMessage": "NEVER-ANSWERED"}), path=SEND)
    worker = messaging_worker("doomed", OUTBOX_SENDING_STALE_SECONDS="2")
    row = outbound_create(chat_id=CHAT, text="We are on it")
    wait_for(lambda: green.count(SEND) == 1, timeout=30, what="the send to reach Green API")
    main_pid = int(redis_client.get("dlq-test:ready:doomed"))  # the worker announces its main process
    children = [int(pid) for pid in os.popen(f"pgrep -P {main_pid}").read().split()]  # its pool process
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    assert status_of(row) == S.SENDING
    # Green API accepted it: its journal shows the message once the lag has passed.
    entry = {"idMessage": "ACCEPTED-1", "chatId": CHAT, "textMessage": "We are on it", "sendByApi": True}
    green.queue(
        Reply(json=[{**entry, "timestamp": int(timezone.now().timestamp()), "statusMessage": "sent"}]), path=JOURNAL
    )
    time.sleep(2.5)  # the row is now older than OUTBOX_SENDING_STALE_SECONDS
    current_app.send_task("messaging.sweep_outbox")
    wait_for(lambda: status_of(row) == S.SENT, timeout=30, what="the lost send reconciled from the journal")
    row.refresh_from_db()
    assert row.id_message == "ACCEPTED-1"
    assert green.count(SEND) == 1, "the redelivered task and the sweeper sent nothing blindly"
    worker.stop()


def test_an_open_breaker_keeps_a_row_queued_without_spending_attempts_then_it_is_sent(messaging_worker, green):
    get_circuit_breaker("green_api").set_state("forced_open")
    messaging_worker("patient")
    row = outbound_create(chat_id=CHAT, text="Sent when the breaker lets us")
    time.sleep(3)  # several deferred rounds
    row.refresh_from_db()
    assert (row.status, row.attempts, green.count(SEND)) == (S.QUEUED, 0, 0)
    get_circuit_breaker("green_api").set_state("closed")
    wait_for(lambda: status_of(row) == S.SENT, timeout=30, what="the row sent once the breaker closed")
    row.refresh_from_db()
    assert row.attempts == 1 and green.count(SEND) == 1


def test_a_rejected_send_fails_its_row_and_leaves_a_dead_letter_for_an_operator(messaging_worker, green):
    green.queue(Reply(status=400, json={"message": "Validation failed: chatId"}), path=SEND)
    messaging_worker("rejecting")
    row = outbound_create(chat_id=CHAT, text="Cannot be sent")
    letter = wait_for(lambda: DeadLetter.objects.first(), timeout=30, what="the dead letter")
    assert (letter.message_type, letter.status, letter.failure_kind) == ("whatsapp_message", "exhausted", "permanent")
    assert letter.payload["args"] == [row.pk]
    row.refresh_from_db()
    assert row.status == S.FAILED and "GreenApiRejected" in row.last_error
    assert green.count(SEND) == 1


def test_spent_retries_become_a_dead_letter_whose_replay_delivers_the_message_once(messaging_worker, green):
    # 2 attempts, each retried once by the client: 4 failures, one short of opening the breaker.
    green.queue(*[Reply(status=503) for _ in range(4)], path=SEND)
    messaging_worker("retrying", OUTBOX_MAX_ATTEMPTS="2")
    row = outbound_create(chat_id=CHAT, text="Eventually")
    letter = wait_for(lambda: DeadLetter.objects.first(), timeout=60, what="the dead letter after 2 attempts")
    assert (letter.status, letter.failure_kind) == (DeadLetterStatus.PENDING, "transient")
    row.refresh_from_db()
    assert (row.status, row.attempts) == (S.FAILED, 2)
    assert dead_letter_replay(letter_id=letter.pk).outcome == "resolved"
    with pytest.raises(DeadLetterStateError):  # resolved: nothing left to replay
        dead_letter_replay(letter_id=letter.pk)
    row.refresh_from_db()
    assert row.status == S.SENT
    assert green.pending() == 0 and green.count(SEND) == 5, "4 refused, then exactly one accepted"
