"""Webhook in, reply out, with a live server and real worker processes: duplicates, lost answers."""

from __future__ import annotations

import json
import threading

import pytest
import requests
from celery import current_app

from messaging.models import OutboundMessage, SentimentResult, Trigger, WebhookEvent
from messaging.models import OutboundStatus as S
from tests.httpserver import Reply
from tests.integration.dlq.conftest import wait_for
from tests.integration.messaging.conftest import completion
from tests.integration.outbox.rows import CHAT
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SEND = "/sendMessage/"


def post(live_server, body) -> requests.Response:
    return requests.post(
        f"{live_server.url}/api/v1/webhooks/green-api/",
        data=json.dumps(body),
        headers={**bodies.auth_header(), "Content-Type": "application/json"},
        timeout=10,
    )


@pytest.fixture
def trigger(db):
    return Trigger.objects.create(name="late order", keywords=["order"], reply_template="Sorry {sender_name}!")


def test_duplicate_webhooks_at_the_same_moment_are_processed_once_and_answered_once(
    live_server, messaging_worker, trigger, green, deepseek
):
    deepseek.default = Reply(json=completion('{"label": "negative", "score": -0.6}'))
    messaging_worker("flow1")
    messaging_worker("flow2")
    body = bodies.incoming_text("Where is my order?", id_message="TWICE1")
    barrier = threading.Barrier(6)
    codes: list[int] = []

    def deliver() -> None:
        barrier.wait()
        codes.append(post(live_server, body).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert codes == [200] * 6
    reply = wait_for(lambda: OutboundMessage.objects.filter(status=S.SENT).first(), timeout=30, what="the reply sent")
    assert reply.text == "Sorry Anna!"
    event = WebhookEvent.objects.get()
    assert (event.processing_status, SentimentResult.objects.get().label) == ("processed", "negative")
    assert [r.json()["message"] for r in green.received(SEND)] == ["Sorry Anna!"]
    assert deepseek.count() == 1, "the event was analysed once"


def test_a_lost_answer_is_settled_by_green_apis_echo_webhook_and_not_sent_again(
    live_server, messaging_worker, trigger, green
):
    green.queue(Reply(action="close_after_read"), path=SEND)
    messaging_worker("echo")
    post(live_server, bodies.incoming_text("my order?", id_message="IN-ECHO"))
    reply = wait_for(lambda: OutboundMessage.objects.filter(status=S.UNKNOWN).first(), timeout=30, what="unknown")
    # Green API accepted it and says so with the outgoingAPIMessageReceived webhook.
    assert post(live_server, bodies.outgoing_api_message(reply.text, id_message="ACCEPTED-ECHO", chat_id=CHAT)).ok
    wait_for(lambda: OutboundMessage.objects.get(pk=reply.pk).status == S.SENT, timeout=30, what="settled")
    assert post(live_server, bodies.outgoing_status("delivered", id_message="ACCEPTED-ECHO", chat_id=CHAT)).ok
    wait_for(lambda: OutboundMessage.objects.get(pk=reply.pk).status == S.DELIVERED, timeout=30, what="delivered")
    assert green.count(SEND) == 1


def test_a_lost_answer_is_settled_from_the_journal_by_the_sweeper_and_not_sent_again(
    live_server, messaging_worker, trigger, green
):
    green.queue(Reply(delay=2, json={"idMessage": "TOO-LATE"}), path=SEND)  # after the 0.5 s read timeout
    messaging_worker("journal")
    post(live_server, bodies.incoming_text("my order?", id_message="IN-JOURNAL"))
    reply = wait_for(lambda: OutboundMessage.objects.filter(status=S.UNKNOWN).first(), timeout=30, what="unknown")
    journal = {"idMessage": "TOO-LATE", "chatId": CHAT, "textMessage": reply.text, "sendByApi": True}
    journal.update(timestamp=int(reply.sending_at.timestamp()), statusMessage="read", type="outgoing")
    green.queue(Reply(json=[journal]), path="/lastOutgoingMessages/")
    current_app.send_task("messaging.sweep_outbox")
    wait_for(lambda: OutboundMessage.objects.get(pk=reply.pk).status == S.READ, timeout=30, what="settled as read")
    assert OutboundMessage.objects.get(pk=reply.pk).id_message == "TOO-LATE"
    assert green.count(SEND) == 1
