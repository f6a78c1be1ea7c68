"""The Green API stand-in speaks Green API's URLs, validation, journal, settings and queue."""

from __future__ import annotations

import re
import time

import pytest
import requests

from sandbox import defaults
from tests.unit.sandbox.conftest import CUSTOMER, GreenApiCalls, eventually

GREEN_API_ID = re.compile(r"[0-9A-F]{20}")


def test_send_message_answers_an_id_shaped_like_green_apis(calls):
    response = calls.send("Your order is on its way")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert GREEN_API_ID.fullmatch(response.json()["idMessage"])


def test_message_ids_are_unique(calls):
    ids = {calls.send(f"reply {n}").json()["idMessage"] for n in range(300)}
    assert len(ids) == 300


@pytest.mark.parametrize(
    "token, instance, status",
    [("wrong-token", defaults.ID_INSTANCE, 401), (defaults.INSTANCE_TOKEN, "1101000002", 403), ("", "", 403)],
)
def test_a_wrong_token_is_401_and_a_wrong_instance_403_and_nothing_is_sent(green, calls, token, instance, status):
    response = calls.session.post(
        calls.url("sendMessage", token=token, instance=instance), json={"chatId": CUSTOMER, "message": "x"}
    )
    assert response.status_code == status
    assert response.json()["statusCode"] == status
    assert green.sent_count(CUSTOMER, "x") == 0


@pytest.mark.parametrize(
    "path, verb",
    [
        ("/waInstance1101000001/sendFileByUrl/sandbox-instance-token-0001", "POST"),
        ("/waInstance1101000001/sendMessage/sandbox-instance-token-0001", "GET"),
        ("/waInstance1101000001/getStateInstance/sandbox-instance-token-0001/extra", "GET"),
        ("/sendMessage", "POST"),
        ("/", "GET"),
    ],
)
def test_unknown_methods_paths_and_verbs_are_404(green, path, verb):
    assert requests.request(verb, green.url + path, timeout=10).status_code == 404


def test_method_names_match_case_insensitively_like_green_apis(green, calls):
    response = calls.session.post(calls.url("SendMessage"), json={"chatId": CUSTOMER, "message": "Hi"})
    assert response.status_code == 200
    assert green.sent_count(CUSTOMER, "Hi") == 1


@pytest.mark.parametrize(
    "body, detail",
    [
        ({"message": "x"}, "'chatId' is required"),
        ({"chatId": 79001234567, "message": "x"}, "'chatId' must be a string"),
        ({"chatId": "", "message": "x"}, "'chatId' is not allowed to be empty"),
        ({"chatId": "7900@c.us", "message": "x"}, "'chatId' must be one of the next formats"),
        ({"chatId": "+79001234567@c.us", "message": "x"}, "must be one of the next formats"),
        ({"chatId": "79001234567@s.whatsapp.net", "message": "x"}, "must be one of the next formats"),
        ({"chatId": "7900123\x004567@c.us", "message": "x"}, "must be one of the next formats"),
        ({"chatId": "７９００１２３４５６７@c.us", "message": "x"}, "must be one of the next formats"),
        ({"chatId": CUSTOMER}, "'message' is required"),
        ({"chatId": CUSTOMER, "message": ""}, "'message' is not allowed to be empty"),
        ({"chatId": CUSTOMER, "message": None}, "'message' must be a string"),
        ({"chatId": CUSTOMER, "message": ["x"]}, "'message' must be a string"),
        ({"chatId": CUSTOMER, "message": "x" * 20_001}, "less than or equal to 20000 characters long"),
        ({"chatId": CUSTOMER, "message": "x", "linkPreview": "yes"}, "'linkPreview' must be a boolean"),
        ({"chatId": CUSTOMER, "message": "x", "quotedMessageId": 5}, "'quotedMessageId' must be a string"),
        ({"chatId": CUSTOMER, "message": "x", "typingTime": 1e308}, "'typingTime' must be a number"),
        ({"chatId": CUSTOMER, "message": "x", "wrongFieldName": 1}, "'wrongFieldName' is not allowed"),
        ([{"chatId": CUSTOMER, "message": "x"}], "'value' must be of type object"),
    ],
)
def test_send_message_validation_is_a_400_like_green_apis_and_sends_nothing(green, calls, body, detail):
    response = calls.post("sendMessage", json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("Validation failed. Details: ")
    assert detail in response.json()["message"]
    assert green.stats()["sends"] == {"invalid": 1}
    assert green.journal() == []


@pytest.mark.parametrize("raw", [b"{", b'{"chatId": NaN}', b"\xff\xfe", b"[" * 100_000])
def test_a_body_that_is_not_json_is_a_400(green, calls, raw):
    response = calls.post("sendMessage", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400
    assert green.journal() == []


def test_the_error_body_echoes_the_path_with_the_token_as_green_api_does(calls):
    body = calls.send("").json()
    assert body["path"] == f"/waInstance{defaults.ID_INSTANCE}/sendMessage/{defaults.INSTANCE_TOKEN}"


@pytest.mark.parametrize(
    "chat_id",
    ["79001234567@c.us", "120363043968066561@g.us", "11001234567-1581234048@g.us", "107165432109876@lid"],
)
def test_every_documented_chat_id_shape_is_accepted(green, calls, chat_id):
    assert calls.send("Hi", chat_id=chat_id).status_code == 200
    assert green.sent_count(chat_id, "Hi") == 1


@pytest.mark.parametrize("text", ["x" * 20_000, "Привет, 你好, 👋", "line\nbreak\x00nul"])
def test_long_and_non_ascii_texts_are_accepted_and_journaled_exactly(green, calls, text):
    assert calls.send(text).status_code == 200
    assert green.journal()[0]["textMessage"] == text


def test_sent_count_shows_a_message_accepted_twice(green, calls):
    calls.send("Sorry for the delay")
    calls.send("Sorry for the delay")
    calls.send("Another reply")
    assert green.sent_count(CUSTOMER, "Sorry for the delay") == 2
    assert green.duplicates() == 1
    sent = {(item["message"], item["count"]) for item in green.stats()["sent"]}
    assert sent == {("Sorry for the delay", 2), ("Another reply", 1)}


def test_a_message_appears_in_last_outgoing_messages_only_after_the_journal_lag(green_factory):
    green = green_factory(journal_lag_ms=600)
    calls = GreenApiCalls(green)
    sent_at = time.monotonic()
    id_message = calls.send("Lagging reply").json()["idMessage"]
    first = calls.get("lastOutgoingMessages").json()
    if time.monotonic() - sent_at < 0.6:  # a loaded machine may take longer than the lag itself
        assert first == []
    journal = eventually(lambda: calls.get("lastOutgoingMessages").json())
    assert time.monotonic() - sent_at >= 0.6
    assert [entry["idMessage"] for entry in journal] == [id_message]


def test_last_outgoing_messages_lists_green_api_fields_newest_first(green, calls):
    first = calls.send("First").json()["idMessage"]
    second = calls.send("Second").json()["idMessage"]
    journal = calls.get("lastOutgoingMessages", params={"minutes": 5}).json()
    assert [entry["idMessage"] for entry in journal] == [second, first]
    entry = journal[0]
    assert entry["type"] == "outgoing"
    assert entry["chatId"] == CUSTOMER and entry["textMessage"] == "Second"
    assert entry["typeMessage"] == "textMessage" and entry["sendByApi"] is True
    assert isinstance(entry["timestamp"], int) and abs(entry["timestamp"] - time.time()) < 60
    assert eventually(lambda: calls.get("lastOutgoingMessages").json()[0]["statusMessage"] == "read")


@pytest.mark.parametrize("minutes", ["0", "abc", "-5", "1.5", "٣"])
def test_last_outgoing_messages_refuses_a_bad_minutes_parameter(calls, minutes):
    assert calls.get("lastOutgoingMessages", params={"minutes": minutes}).status_code == 400


def test_the_journal_is_bounded(green_factory):
    green = green_factory(journal_size=5)
    calls = GreenApiCalls(green)
    for n in range(8):
        calls.send(f"reply {n}")
    assert [entry["textMessage"] for entry in green.journal()] == [f"reply {n}" for n in range(3, 8)]
    assert green.sent_count(CUSTOMER, "reply 0") == 1  # counts outlive the journal


def test_get_state_instance_follows_its_switch_and_may_be_null(green, calls):
    assert calls.get("getStateInstance").json() == {"stateInstance": "authorized"}
    green.control(state_instance="notAuthorized")
    assert calls.get("getStateInstance").json() == {"stateInstance": "notAuthorized"}
    green.control(state_instance=None)
    response = calls.get("getStateInstance")
    assert response.status_code == 200 and response.text == "null"


def test_set_settings_changes_what_get_settings_shows(green, calls, receiver):
    before = calls.get("getSettings").json()
    assert before["wid"] == defaults.WID
    assert before["webhookUrl"] == receiver.url
    assert before["outgoingAPIMessageWebhook"] == "yes"
    answer = calls.post(
        "setSettings", json={"webhookUrl": "", "webhookUrlToken": "new-token", "outgoingWebhook": "no"}
    ).json()
    assert answer == {"saveSettings": True}
    after = calls.get("getSettings").json()
    assert after["webhookUrl"] == "" and after["webhookUrlToken"] == "new-token" and after["outgoingWebhook"] == "no"
    assert green.state()["settings"]["webhookUrlToken"] == "***"


@pytest.mark.parametrize(
    "body, detail",
    [
        ({}, "at least one setting"),
        ({"webhookUrl": "https://example.com/hook"}, "127.0.0.1"),
        ({"webhookUrl": "http://10.0.0.5:8000/hook"}, "127.0.0.1"),
        ({"webhookUrl": 5}, "must be a string"),
        ({"outgoingWebhook": True}, "must be one of [yes, no]"),
        ({"delaySendMessagesMilliseconds": 100}, "from 500 to 600000"),
        ({"pollingInterval": 5}, "'pollingInterval' is not allowed"),
    ],
)
def test_set_settings_refuses_bad_values_and_changes_nothing(calls, body, detail):
    before = calls.get("getSettings").json()
    response = calls.post("setSettings", json=body)
    assert response.status_code == 400
    assert detail in response.json()["message"]
    assert calls.get("getSettings").json() == before


def test_quota_mode_answers_466_and_sends_one_quota_exceeded_webhook(green, calls, receiver):
    green.control(quota_exceeded=True)
    first, second = calls.send("one"), calls.send("two")
    assert first.status_code == second.status_code == 466
    assert first.json()["correspondentsStatus"]["status"] == "QUOTE_EXCEEDED"
    assert green.journal() == [] and green.stats()["sends"] == {"quota_exceeded": 2}
    receiver.wait_for(lambda got: any(r.body["typeWebhook"] == "quotaExceeded" for r in got))
    time.sleep(0.2)
    [quota] = receiver.bodies("quotaExceeded")
    assert quota["quotaData"]["status"] == "CORRESPONDENTS_QUOTA_EXCEEDED"
    assert quota["instanceData"]["idInstance"] == int(defaults.ID_INSTANCE)
    green.control(quota_exceeded=False)
    assert calls.send("three").status_code == 200


def test_an_oversized_body_is_413_and_sends_nothing(green_factory):
    green = green_factory(max_body_bytes=2048)
    calls = GreenApiCalls(green)
    response = calls.send("x" * 3000)
    assert response.status_code == 413
    assert green.journal() == []
    assert calls.send("fits").status_code == 200


def test_a_chunked_body_is_read_like_any_other(green, calls):
    chunks = iter([b'{"chatId": "79005550101@c.us", ', b'"message": "chunked"}'])
    response = calls.session.post(calls.url("sendMessage"), data=chunks, timeout=10)
    assert response.status_code == 200
    assert green.sent_count(CUSTOMER, "chunked") == 1


def test_a_send_while_not_authorized_is_accepted_and_goes_out_once_authorized(green, calls, receiver):
    green.control(state_instance="notAuthorized")
    id_message = calls.send("Queued while offline").json()["idMessage"]
    time.sleep(0.5)
    assert not [b for b in receiver.bodies("outgoingMessageStatus") if b["idMessage"] == id_message]
    assert green.journal()[0]["statusMessage"] == "pending"
    green.control(state_instance="authorized")
    receiver.wait_for(lambda got: any(r.body.get("status") == "read" for r in got))
    states = [body["stateInstance"] for body in receiver.bodies("stateInstanceChanged")]
    assert states == ["notAuthorized", "authorized"]


def test_notifications_queue_for_receive_notification_when_no_webhook_url_is_set(green_factory):
    green = green_factory()
    calls = GreenApiCalls(green)
    incoming = green.incoming(CUSTOMER, "Where is my parcel?", sender_name="Anna")
    first = eventually(lambda: calls.get("receiveNotification").json())
    assert first["body"] == incoming
    assert calls.get("receiveNotification").json() == first  # stays at the head until deleted
    deleted = calls.session.delete(f"{calls.url('deleteNotification')}/{first['receiptId']}", timeout=10)
    assert deleted.json() == {"result": True, "reason": ""}
    calls.send("We are on it")
    kinds = []
    while len(kinds) < 4:
        notification = eventually(lambda: calls.get("receiveNotification").json())
        kinds.append(notification["body"].get("status") or notification["body"]["typeWebhook"])
        calls.session.delete(f"{calls.url('deleteNotification')}/{notification['receiptId']}", timeout=10)
    assert kinds == ["outgoingAPIMessageReceived", "sent", "delivered", "read"]


def test_receive_notification_waits_its_timeout_then_answers_null(green_factory):
    calls = GreenApiCalls(green_factory())
    started = time.monotonic()
    response = calls.get("receiveNotification", params={"receiveTimeout": 5}, timeout=30)
    assert response.status_code == 200 and response.text == "null"
    assert time.monotonic() - started >= 5


@pytest.mark.parametrize("receive_timeout", ["4", "61", "x"])
def test_receive_notification_refuses_a_timeout_outside_5_to_60(green_factory, receive_timeout):
    calls = GreenApiCalls(green_factory())
    assert calls.get("receiveNotification", params={"receiveTimeout": receive_timeout}).status_code == 400


def test_delete_notification_answers_false_for_an_unknown_receipt_and_400_for_garbage(green_factory):
    calls = GreenApiCalls(green_factory())
    assert calls.session.delete(f"{calls.url('deleteNotification')}/999", timeout=10).json()["result"] is False
    assert calls.session.delete(f"{calls.url('deleteNotification')}/abc", timeout=10).status_code == 400
