"""Operator overrides as the pipeline sees them, through the command and the ops API.

- minor by hand: sentiment comes from the local fallback and DeepSeek's stand-in gets no
  request, while replies still go out;
- severe for a few seconds: API sends and automatic replies are held (Green API gets
  nothing); at the expiry the automatic level returns, the monitor records it, and the
  release it enqueues sends each held message once;
- critical: webhooks are answered 200 and stored only; the operator's clear (a web
  request) releases them, and each is processed and answered once.
"""

from __future__ import annotations

import time

import pytest
import requests

from messaging.models import OutboundMessage, ProcessingStatus, SentimentResult, Trigger, WebhookEvent
from reliability.degradation.models import DegradationEvent, DegradationState
from tests.e2e.degradation.conftest import chats, history
from tests.integration.dlq.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

REPLY = "Sorry about your order, we are on it."
# How long every process may take to see a change (the level's promise).
SEEN_EVERYWHERE = 2.0


def held_events() -> int:
    return WebhookEvent.objects.filter(processing_status=ProcessingStatus.HELD).count()


def test_an_override_holds_sends_and_replies_until_its_expiry_then_each_goes_out_once(stack, api_token):
    Trigger.objects.create(name="orders", keywords=["order"], reply_template=REPLY)
    drill = stack(hold=2.0)
    drill.worker("w1")
    drill.monitor()
    auth = {"Authorization": f"Token {api_token('messaging.add_outboundmessage', 'messaging.view_sentimentresult')}"}

    minor = drill.command("degradation", "set", "minor", "--reason", "DeepSeek maintenance")
    assert minor.returncode == 0, minor.stderr
    time.sleep(SEEN_EVERYWHERE)
    early = chats(200, 2)
    for chat in early:
        drill.customer_writes(chat, "Where is my order?")
    wait_for(lambda: drill.replies_sent(early, REPLY), timeout=30, what=f"the replies at minor\n{drill.logs()}")
    sentiment = drill.web.post("/api/v1/sentiment/", json={"text": "I love it, thank you!"}, headers=auth).json()
    assert (sentiment["source"], sentiment["degraded"]) == ("fallback", True)
    assert set(SentimentResult.objects.values_list("source", "error_class")) == {("fallback", "")}
    assert drill.deepseek_requests() == 0

    severe = drill.command("degradation", "set", "severe", "--reason", "Green API maintenance", "--for", "8s")
    assert severe.returncode == 0, severe.stderr
    expires_at = DegradationState.objects.get().expires_at
    time.sleep(SEEN_EVERYWHERE)
    sends_before = drill.sends()
    direct = chats(300, 3)
    for chat in direct:
        answer = drill.web.post(
            "/api/v1/messages/", json={"chat_id": chat, "text": "Your order has shipped"}, headers=auth
        )
        assert answer.status_code == 202, answer.text
    late = chats(400, 3)
    for chat in late:
        assert drill.customer_writes(chat, "My order is late")[1].json() == {"status": "stored"}
    wait_for(
        lambda: OutboundMessage.objects.filter(held_at__isnull=False).count() == 3 and held_events() == 3,
        timeout=30,
        what=f"the sends and the replies held\n{drill.logs()}",
    )
    assert time.time() < expires_at.timestamp(), "the machine was too slow to observe the override"
    assert drill.sends() == sends_before
    assert not OutboundMessage.objects.filter(chat_id__in=late).exists(), "no reply is written while held"

    wait_for(
        lambda: (
            drill.replies_sent(late, REPLY)
            and all(drill.green.sent_count(chat, "Your order has shipped") for chat in direct)
        ),
        timeout=30,
        what=f"every held message sent\n{drill.logs()}",
    )
    assert [drill.green.sent_count(chat, "Your order has shipped") for chat in direct] == [1] * 3
    assert [drill.green.sent_count(chat, REPLY) for chat in early + late] == [1] * 5
    assert drill.green.duplicates() == 0
    released = OutboundMessage.objects.filter(chat_id__in=direct + late)
    assert all(row.sending_at >= expires_at for row in released)
    assert history() == [(0, 1, "operator"), (1, 3, "operator"), (3, 0, "auto")]
    assert DegradationEvent.objects.order_by("id").last().reason.startswith("operator override expired")


def test_at_critical_webhooks_are_stored_only_and_the_operators_clear_gets_them_processed(stack, api_token):
    Trigger.objects.create(name="orders", keywords=["order"], reply_template=REPLY)
    drill = stack()
    drill.worker("w1")  # no monitor and no beat: only the operator changes the level, only its signal releases
    auth = {"Authorization": f"Token {api_token('reliability.set_degradation_level')}"}
    set_level = drill.web.post(
        "/admin/reliability/degradation/set-level?level=critical&reason=database+maintenance", headers=auth
    )
    assert set_level.status_code == 200, set_level.text
    customers = chats(500, 4)
    answers = [drill.customer_writes(chat, "Where is my order?")[1] for chat in customers]
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"status": "stored"})] * 4
    time.sleep(SEEN_EVERYWHERE)  # a worker would have processed them by now
    assert held_events() == 4
    assert not SentimentResult.objects.exists() and not OutboundMessage.objects.exists()

    cleared = requests.post(
        f"{drill.web.url}/admin/reliability/degradation/clear", json={"reason": "maintenance over"}, headers=auth
    )
    assert cleared.status_code == 200, cleared.text
    wait_for(lambda: drill.replies_sent(customers, REPLY), timeout=30, what=f"every reply\n{drill.logs()}")
    assert [drill.green.sent_count(chat, REPLY) for chat in customers] == [1] * 4
    assert held_events() == 0
    assert history() == [(0, 4, "operator"), (4, 0, "operator")]
