"""The whole flow against the sandbox stand-ins: a customer writes, one reply goes out and is read.

The Green API stand-in calls our live server with its webhooks (the customer's message,
then the echo of our send and its statuses), so nothing here plays Green API by hand.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from celery import current_app

from messaging.clients.green_api import get_green_api_client
from messaging.models import OutboundMessage, ProcessingStatus, SentimentResult, Trigger, WebhookEvent
from messaging.models import OutboundStatus as S
from sandbox import DeepSeekStandIn, GreenApiStandIn
from tests.integration.dlq.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REPLY = "Sorry about your order, we are on it."


@pytest.fixture
def stand_ins(live_server, settings):
    """Green API and DeepSeek stand-ins; Green API sends its webhooks to the live server."""
    green = GreenApiStandIn(
        webhook_url=f"{live_server.url}/api/v1/webhooks/green-api/",
        webhook_token=settings.GREEN_API_WEBHOOK_TOKEN,
        id_instance=settings.GREEN_API_ID_INSTANCE,
        token=settings.GREEN_API_TOKEN,
        status_delays_ms=[50, 100, 150],
        journal_lag_ms=200,
    )
    deepseek = DeepSeekStandIn(api_key=settings.DEEPSEEK_API_KEY)
    green.start()
    deepseek.start()
    yield green, deepseek
    green.stop()
    deepseek.stop()


@pytest.fixture
def sandbox_worker(start_worker, stand_ins):
    green, deepseek = stand_ins

    def start(name: str, **env: str):
        defaults = dict(
            GREEN_API_URL=green.url,
            DEEPSEEK_BASE_URL=deepseek.url,
            GREEN_API_READ_TIMEOUT="0.5",
            DEEPSEEK_READ_TIMEOUT="2",
            GREEN_API_JOURNAL_LAG_SECONDS="1",
        )
        return start_worker(name, pool="prefork", **{**defaults, **env})

    return start


@pytest.fixture
def trigger(db):
    return Trigger.objects.create(name="orders", keywords=["order"], reply_template=REPLY)


def chats(count: int) -> list[str]:
    return [f"7900555{n:04d}@c.us" for n in range(count)]


def all_read(count: int) -> bool:
    return OutboundMessage.objects.filter(status=S.READ).count() == count


def test_a_customer_message_gets_one_reply_that_ends_read(stand_ins, sandbox_worker, trigger):
    green, deepseek = stand_ins
    sandbox_worker("sandbox1")
    green.incoming("79005550101@c.us", "My order never arrived", sender_name="Anna")
    wait_for(lambda: all_read(1), timeout=60, what="the reply read")
    reply = OutboundMessage.objects.get()
    assert (reply.text, reply.chat_id) == (REPLY, "79005550101@c.us")
    assert reply.delivered_at is not None and reply.read_at is not None
    inbound = WebhookEvent.objects.get(type_webhook="incomingMessageReceived")
    assert inbound.processing_status == ProcessingStatus.PROCESSED
    sentiment = SentimentResult.objects.get(inbound=inbound)
    assert (sentiment.source, sentiment.degraded) == ("deepseek", False)
    assert green.sent_count("79005550101@c.us", REPLY) == 1
    assert green.duplicates() == 0


@pytest.mark.parametrize("mode", ["close", "late"])
def test_lost_answers_are_settled_by_green_apis_echo_with_no_duplicates(stand_ins, sandbox_worker, trigger, mode):
    green, _ = stand_ins
    green.control(lost_reply_rate=1.0, lost_reply_mode=mode, late_reply_ms=1500, methods=["sendMessage"])
    sandbox_worker("lossy")
    for chat in chats(5):
        green.incoming(chat, "where is my order?")
    wait_for(lambda: all_read(5), timeout=90, what="every reply settled and read")
    assert green.duplicates() == 0
    assert [green.sent_count(chat, REPLY) for chat in chats(5)] == [1] * 5
    assert set(OutboundMessage.objects.values_list("attempts", flat=True)) == {1}


def test_without_the_echo_lost_answers_are_settled_from_the_journal_by_the_sweeper(
    stand_ins, sandbox_worker, trigger, settings
):
    green, _ = stand_ins
    settings.GREEN_API_URL = green.url
    with get_green_api_client() as client:  # no outgoingAPIMessageReceived: only the journal can tell
        assert client.set_settings({"outgoingAPIMessageWebhook": "no"})
    green.control(lost_reply_rate=1.0, lost_reply_mode="close", methods=["sendMessage"])
    sandbox_worker("journaled")
    for chat in chats(3):
        green.incoming(chat, "my order?")
    wait_for(
        lambda: OutboundMessage.objects.filter(status__in=(S.UNKNOWN, S.SENT, S.DELIVERED, S.READ)).count() == 3,
        timeout=60,
        what="three replies sent or unknown",
    )
    assert not WebhookEvent.objects.filter(type_webhook="outgoingAPIMessageReceived").exists()
    time.sleep(1.5)  # past our journal lag
    current_app.send_task("messaging.sweep_outbox")
    wait_for(lambda: all_read(3), timeout=60, what="every reply reconciled and read")
    assert green.duplicates() == 0
    assert [green.sent_count(chat, REPLY) for chat in chats(3)] == [1] * 3


def kill_pool_processes(redis_client, name: str) -> None:
    """SIGKILL the pool processes of worker ``name`` (its main process stays, as when the OOM killer strikes)."""
    main_pid = int(redis_client.get(f"dlq-test:ready:{name}"))
    for pid in os.popen(f"pgrep -P {main_pid}").read().split():
        os.kill(int(pid), signal.SIGKILL)


def sweep_until(condition, *, what: str):
    """Run the beat's outbox sweep (every minute in production) until ``condition`` holds."""

    def swept() -> bool:
        current_app.send_task("messaging.sweep_outbox")
        return condition()

    return wait_for(swept, timeout=60, interval=1.0, what=what)


@pytest.mark.parametrize("accepted", [True, False], ids=["green-api-accepted-it", "green-api-never-did"])
def test_a_worker_killed_while_green_api_holds_its_send_ends_with_the_reply_sent_once(
    stand_ins, sandbox_worker, trigger, redis_client, accepted
):
    """The pool process dies with its request in flight; Green API may or may not take the message.

    Accepted: its echo settles the row, and neither the redelivered task nor the sweeper sends
    it again. Not accepted (Green API went down before answering): the row is found absent
    from the journal and sent once more.
    """
    green, _ = stand_ins
    green.control(latency_ms=3000, methods=["sendMessage"])
    sandbox_worker("doomed", OUTBOX_SENDING_STALE_SECONDS="2")
    green.incoming("79005550101@c.us", "My order never arrived", sender_name="Anna")
    row = wait_for(
        lambda: OutboundMessage.objects.filter(status=S.SENDING).first(), timeout=30, what="the reply being sent"
    )
    time.sleep(0.3)  # the request is at Green API, which holds it for 3 s
    kill_pool_processes(redis_client, "doomed")
    if not accepted:
        green.control(outage=True)  # the held request is dropped unanswered, and nothing was taken
        time.sleep(3.5)
        green.control(outage=False)
    green.control(latency_ms=0)
    sweep_until(lambda: all_read(1), what="the reply sent and read")
    row.refresh_from_db()
    assert green.sent_count("79005550101@c.us", REPLY) == 1
    assert green.duplicates() == 0
    assert row.attempts == (1 if accepted else 2)
    assert OutboundMessage.objects.count() == 1
