"""The webhook door on real PostgreSQL: token, size, JSON, instance, storing once."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from prometheus_client import REGISTRY

from messaging.models import ProcessingStatus, WebhookEvent
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

URL = "/api/v1/webhooks/green-api/"


def post(client, body, *, headers=None, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", headers=headers or bodies.auth_header())


def received(type_webhook: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "messaging_webhooks_received_total", {"type_webhook": type_webhook, "outcome": outcome}
    )
    return value or 0.0


def test_an_incoming_text_is_stored_with_its_fields_and_processed_after_commit(
    client, django_capture_on_commit_callbacks
):
    body = bodies.incoming_text("My order never arrived", id_message="BAE5F4886F6F2D05")
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, body)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "stored"}
    event = WebhookEvent.objects.get()
    assert (event.type_webhook, event.chat_id, event.sender, event.sender_name) == (
        "incomingMessageReceived",
        "79005550101@c.us",
        "79005550101@c.us",
        "Anna",
    )
    assert (event.id_message, event.type_message, event.text) == (
        "BAE5F4886F6F2D05",
        "textMessage",
        "My order never arrived",
    )
    assert event.occurred_at.timestamp() == body["timestamp"]
    assert event.payload == body
    assert event.processing_status == ProcessingStatus.PENDING
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    ("message_data", "type_message", "text"),
    [
        (
            {"typeMessage": "extendedTextMessage", "extendedTextMessageData": {"text": "see https://x.example"}},
            "extendedTextMessage",
            "see https://x.example",
        ),
        (
            {
                "typeMessage": "quotedMessage",
                "extendedTextMessageData": {"text": "Quoting it", "stanzaId": "3EB0"},
                "quotedMessage": {"stanzaId": "3EB0", "typeMessage": "textMessage", "textMessage": "older"},
            },
            "quotedMessage",
            "Quoting it",
        ),
    ],
)
def test_text_is_read_from_extended_and_quoted_messages(client, message_data, type_message, text):
    body = bodies.incoming_text()
    body["messageData"] = message_data
    assert post(client, body).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.type_message, event.text, event.processing_status) == (type_message, text, ProcessingStatus.PENDING)


def test_a_second_delivery_of_the_same_message_is_answered_200_and_stored_once(
    client, django_capture_on_commit_callbacks
):
    body = bodies.incoming_text(id_message="DUP0001")
    before = received("incomingMessageReceived", "duplicate")
    with django_capture_on_commit_callbacks() as callbacks:
        assert post(client, body).json() == {"status": "stored"}
        again = post(client, {**body, "timestamp": body["timestamp"] + 60})
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1
    assert len(callbacks) == 1
    assert received("incomingMessageReceived", "duplicate") == before + 1


def test_the_same_message_id_in_another_chat_is_another_message(client):
    post(client, bodies.incoming_text(id_message="SAME", chat_id="79005550101@c.us"))
    post(client, bodies.incoming_text(id_message="SAME", chat_id="79005550102@c.us"))
    assert WebhookEvent.objects.count() == 2


def test_each_delivery_status_of_a_message_is_stored_once(client):
    for status in ("sent", "delivered", "sent", "read", "delivered"):
        assert post(client, bodies.outgoing_status(status, id_message="OUT1")).status_code == 200
    assert sorted(WebhookEvent.objects.values_list("message_status", flat=True)) == ["delivered", "read", "sent"]


def test_events_without_a_message_id_are_stored_and_deduplicated_by_their_body(client):
    for body in (bodies.state_changed("notAuthorized"), bodies.state_changed("notAuthorized"), bodies.state_changed()):
        assert post(client, body).status_code == 200
    assert sorted(WebhookEvent.objects.values_list("payload__stateInstance", flat=True)) == [
        "authorized",
        "notAuthorized",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"typeWebhook": "deviceInfo", "instanceData": bodies.instance_data(), "timestamp": 1, "deviceData": {}},
        {"typeWebhook": "somethingNewFromGreenApi", "instanceData": bodies.instance_data()},
        {
            **bodies.incoming_text(),
            "messageData": {
                "typeMessage": "imageMessage",
                "fileMessageData": {"downloadUrl": "https://x.example/a.jpg"},
            },
        },
    ],
    ids=["device-info", "undocumented-type", "image"],
)
def test_well_formed_events_we_do_not_act_on_are_stored_as_ignored_and_answered_200(
    client, body, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, body)
    assert response.status_code == 200
    assert WebhookEvent.objects.get().processing_status == ProcessingStatus.IGNORED
    assert callbacks == []


def test_unknown_fields_are_kept_in_the_body_and_otherwise_ignored(client):
    body = bodies.incoming_text()
    body["futureField"] = {"nested": [1, 2, 3]}
    body["senderData"]["senderContactName"] = "Anna K."
    assert post(client, body).status_code == 200
    assert WebhookEvent.objects.get().payload["futureField"] == {"nested": [1, 2, 3]}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {settings.GREEN_API_WEBHOOK_TOKEN}"},
        {"Authorization": f"Bearer {settings.GREEN_API_WEBHOOK_TOKEN}x"},
        {"Authorization": "Bearer tökén"},
        {"Authorization": "Bearer €uro-☃"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong", "basic-scheme", "longer", "latin-1", "beyond-latin-1", "empty"],
)
def test_a_missing_or_wrong_token_is_401_and_nothing_is_stored(client, headers):
    response = post(client, bodies.incoming_text(), headers=headers or {"X-Nothing": "1"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "webhook token" in response.json()["detail"]
    assert not WebhookEvent.objects.exists()


def test_the_bearer_scheme_is_case_insensitive(client):
    headers = {"Authorization": f"bearer {settings.GREEN_API_WEBHOOK_TOKEN}"}
    assert post(client, bodies.incoming_text(), headers=headers).status_code == 200


def test_a_body_over_the_limit_is_413_before_it_is_parsed(client, settings):
    settings.GREEN_API_WEBHOOK_MAX_BYTES = 2048
    body = bodies.incoming_text("x" * 4000)
    response = post(client, body)
    assert response.status_code == 413
    assert "larger than 2048 bytes" in response.json()["detail"]
    assert post(client, bodies.incoming_text("x" * 100)).status_code == 200


def test_a_chunked_body_on_a_server_that_does_not_end_the_stream_is_411_not_an_empty_body(client):
    # The test client, like runserver, does not decode chunks: reading on would take the raw stream.
    response = client.post(
        URL,
        data=json.dumps(bodies.incoming_text()),
        content_type="application/json",
        headers={**bodies.auth_header(), "Transfer-Encoding": "chunked"},
    )
    assert response.status_code == 411
    assert "Content-Length" in response.json()["detail"]
    assert not WebhookEvent.objects.exists()


def test_the_default_limit_is_256_kib(client):
    assert settings.GREEN_API_WEBHOOK_MAX_BYTES == 256 * 1024
    assert post(client, None, raw=b" " * (256 * 1024 + 1)).status_code == 413


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"typeWebhook": "incomingMessageReceived", "n": NaN}', "not valid JSON"),
        (b'{"typeWebhook": "incomingMessageReceived", "n": Infinity}', "not valid JSON"),
        (b'{"typeWebhook": "incomingMessageReceived", "n": 1e999}', "too large"),
        (b'{"typeWebhook": "incomingMessageReceived", "n": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper"),
        (b'{"instanceData": {"idInstance": 1101000001}}', "typeWebhook is missing"),
        (b'{"typeWebhook": 7}', "typeWebhook is missing"),
    ],
    ids=[
        "empty", "broken", "array", "string", "not-utf8", "nan", "infinity", "huge-float", "huge-int",
        "very-deep", "deeper-than-32", "no-type", "type-not-string",
    ],
)  # fmt: skip
def test_bodies_that_are_not_green_api_json_objects_are_400_with_a_reason(client, raw, message):
    response = post(client, None, raw=raw)
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b["senderData"].update(chatId=79005550101), "senderData.chatId must be a string"),
        (lambda b: b.update(idMessage=["A"]), "idMessage must be a string"),
        (lambda b: b.update(idMessage="A" * 300), "idMessage is longer than 255"),
        (lambda b: b.update(senderData="Anna"), "senderData must be an object"),
        (lambda b: b.update(timestamp="yesterday"), "timestamp must be a number"),
        (lambda b: b.update(timestamp=True), "timestamp must be a number"),
        (lambda b: b.update(timestamp=10**30), "timestamp is out of range"),
    ],
    ids=[
        "chat-id-int",
        "id-list",
        "id-too-long",
        "sender-string",
        "timestamp-text",
        "timestamp-bool",
        "timestamp-huge",
    ],
)
def test_fields_we_read_with_the_wrong_type_are_400(client, change, message):
    body = bodies.incoming_text()
    change(body)
    response = post(client, body)
    assert response.status_code == 400
    assert message in response.json()["detail"]


@pytest.mark.parametrize(
    "instance",
    [
        {"idInstance": 1101000002, "wid": "x@c.us"},
        {"idInstance": "1101000002"},
        {"idInstance": True},
        {},
        "1101000001",
        None,
    ],
    ids=["other-id", "other-id-text", "bool", "no-id", "not-object", "missing"],
)
def test_an_event_of_another_instance_is_403_and_stored_nowhere(client, instance):
    body = bodies.incoming_text()
    body["instanceData"] = instance
    before = received("incomingMessageReceived", "forbidden")
    response = post(client, body)
    assert response.status_code == 403
    assert "instance" in response.json()["detail"]
    assert not WebhookEvent.objects.exists()
    assert received("incomingMessageReceived", "forbidden") == before + 1


def test_nul_characters_are_removed_from_every_string_and_key_before_postgresql(client):
    body = bodies.incoming_text("order\u0000 lost")
    body["senderData"]["senderName"] = "An\u0000na"
    body["extra\u0000key"] = ["a\u0000", {"b\u0000": "c\u0000"}]
    assert post(client, body).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.text, event.sender_name) == ("order lost", "Anna")
    assert event.payload["extrakey"] == ["a", {"b": "c"}]
    assert "\\u0000" not in json.dumps(event.payload)


def test_lone_surrogates_become_replacement_characters_instead_of_a_500(client):
    raw = json.dumps(bodies.incoming_text("broken \ud800 emoji")).encode()
    assert post(client, None, raw=raw).status_code == 200
    assert "\ufffd" in WebhookEvent.objects.get().text


def test_other_methods_are_405(client):
    assert client.get(URL, headers=bodies.auth_header()).status_code == 405


def test_storing_an_event_is_one_insert(client, django_assert_num_queries):
    post(client, bodies.incoming_text())  # the first request of a process loads the api_webhooks breaker's row
    with django_assert_num_queries(1):
        assert post(client, bodies.incoming_text()).status_code == 200
    with django_assert_num_queries(1):
        assert post(client, bodies.state_changed("blocked")).status_code == 200
