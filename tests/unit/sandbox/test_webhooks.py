"""The Green API stand-in calls our webhook back as Green API does: shapes, token, retries."""

from __future__ import annotations

import time

import pytest

from sandbox import GreenApiStandIn, defaults
from tests.unit.sandbox.conftest import CUSTOMER, WEBHOOK_TOKEN, GreenApiCalls
from tests.webhook_receiver import WebhookReceiver


def _status_events(receiver: WebhookReceiver, id_message: str) -> list[str]:
    return [
        r.body.get("status") or r.body["typeWebhook"]
        for r in receiver.webhooks()
        if r.body.get("idMessage") == id_message and 200 <= r.answered < 300
    ]


def test_an_accepted_send_comes_back_as_api_message_then_sent_delivered_read(calls, receiver):
    id_message = calls.send("Your parcel left the warehouse").json()["idMessage"]
    received = receiver.wait_for(lambda got: len(got) == 4)
    assert {r.authorization for r in received} == {f"Bearer {WEBHOOK_TOKEN}"}
    assert {r.path for r in received} == {"/api/v1/webhooks/green-api/"}
    assert _status_events(receiver, id_message) == ["outgoingAPIMessageReceived", "sent", "delivered", "read"]
    api_message, *statuses = (r.body for r in received)
    assert api_message["instanceData"] == {
        "idInstance": int(defaults.ID_INSTANCE),
        "wid": defaults.WID,
        "typeInstance": "whatsapp",
    }
    assert api_message["senderData"]["chatId"] == CUSTOMER
    assert api_message["messageData"] == {
        "typeMessage": "textMessage",
        "textMessageData": {"textMessage": "Your parcel left the warehouse"},
    }
    for status in statuses:
        assert status["typeWebhook"] == "outgoingMessageStatus"
        assert status["chatId"] == CUSTOMER and status["sendByApi"] is True
        assert isinstance(status["timestamp"], int)


def test_a_webhook_answered_500_is_retried_until_it_is_accepted(green_factory):
    with WebhookReceiver(statuses=(500, 503)) as receiver:
        green = green_factory(webhook_url=receiver.url, webhook_token=WEBHOOK_TOKEN, final_status="sent")
        id_message = GreenApiCalls(green).send("Retried").json()["idMessage"]
        receiver.wait_for(lambda got: len(_status_events(receiver, id_message)) == 2)
        assert [r.answered for r in receiver.webhooks()][:2] == [500, 503]
        assert sorted(_status_events(receiver, id_message)) == ["outgoingAPIMessageReceived", "sent"]
        assert green.stats()["webhooks"]["retried"] == 2


def test_webhook_retries_are_bounded(green_factory):
    with WebhookReceiver(default_status=500) as receiver:
        green = green_factory(webhook_url=receiver.url, webhook_token=WEBHOOK_TOKEN, final_status="sent")
        GreenApiCalls(green).send("Never accepted")
        # Two webhooks (API message, sent), each tried once and retried twice (two delays).
        receiver.wait_for(lambda got: len(got) == 6)
        time.sleep(0.5)
        assert len(receiver.webhooks()) == 6
        assert green.stats()["webhooks"]["given_up"] == 2


def test_an_unreachable_webhook_url_is_retried_then_given_up(green_factory):
    with WebhookReceiver() as receiver:
        url = receiver.url
    green = green_factory(webhook_url=url, webhook_token=WEBHOOK_TOKEN, final_status="sent")
    GreenApiCalls(green).send("Nobody listens")
    deadline = time.monotonic() + 15
    while green.stats()["webhooks"].get("given_up", 0) < 2:
        assert time.monotonic() < deadline, green.stats()["webhooks"]
        time.sleep(0.05)
    assert {attempt["answer"] for attempt in green.webhooks()} == {"ConnectionRefusedError"}


def test_the_webhook_switches_turn_their_webhooks_off(green, calls, receiver):
    calls.post("setSettings", json={"outgoingWebhook": "no", "outgoingAPIMessageWebhook": "no"})
    calls.send("Quiet")
    deadline = time.monotonic() + 10
    while green.journal()[0]["statusMessage"] != "read":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert green.webhooks_idle()
    assert receiver.webhooks() == []


def test_an_empty_webhook_token_sends_no_authorization_header(green_factory, receiver):
    green = green_factory(webhook_url=receiver.url, final_status="sent")
    GreenApiCalls(green).send("No token")
    received = receiver.wait_for(lambda got: len(got) == 2)
    assert {r.authorization for r in received} == {None}


@pytest.mark.parametrize("final_status", ["failed", "noAccount"])
def test_a_failed_send_reports_its_status_with_a_description(green_factory, receiver, final_status):
    green = green_factory(webhook_url=receiver.url, webhook_token=WEBHOOK_TOKEN, final_status=final_status)
    GreenApiCalls(green).send("Undeliverable")
    receiver.wait_for(lambda got: any(r.body.get("status") == final_status for r in got))
    [status] = receiver.bodies("outgoingMessageStatus")
    assert status["description"]
    assert green.journal()[0]["statusMessage"] == final_status


def test_a_new_state_sends_state_instance_changed(green, receiver):
    green.control(state_instance="yellowCard")
    receiver.wait_for(lambda got: len(got) == 1)
    [body] = receiver.bodies("stateInstanceChanged")
    assert body["stateInstance"] == "yellowCard"
    assert body["instanceData"]["idInstance"] == int(defaults.ID_INSTANCE)


def test_a_customer_message_arrives_as_incoming_message_received(green, receiver):
    sent = green.incoming(CUSTOMER, "Where is my order?", sender_name="Anna")
    receiver.wait_for(lambda got: len(got) == 1)
    [body] = receiver.bodies("incomingMessageReceived")
    assert body == sent
    assert body["senderData"] == {"chatId": CUSTOMER, "sender": CUSTOMER, "chatName": "Anna", "senderName": "Anna"}
    assert body["messageData"]["textMessageData"]["textMessage"] == "Where is my order?"
    assert len(body["idMessage"]) == 16


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:8000/hook", "http://example.com/hook", "http://192.168.1.2/hook", "ftp://127.0.0.1/"]
)
def test_webhooks_go_to_this_machine_only(url):
    with pytest.raises(ValueError, match="127.0.0.1"):
        GreenApiStandIn(webhook_url=url)


def test_the_webhook_schedule_is_bounded(green_factory, receiver):
    green = green_factory(webhook_url=receiver.url, status_delays_ms=[60_000, 60_000, 60_000], max_pending_webhooks=10)
    calls = GreenApiCalls(green)
    for n in range(5):
        assert calls.send(f"reply {n}").status_code == 200
    stats = green.stats()["webhooks"]
    # 15 statuses wait a minute each; at most 10 may wait.
    assert stats["pending"] <= 10 and stats["dropped"] >= 5
