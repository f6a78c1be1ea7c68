"""/api/v1/messages/: send through the outbox, idempotency keys, validation before any row, reading."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from messaging.models import OutboundMessage, OutboundStatus
from messaging.services.outbox import SEND_TASK

pytestmark = pytest.mark.django_db

LIST = "/api/v1/messages/"
CHAT = "79005550101@c.us"


@pytest.fixture
def sender_user(messaging_user):
    return messaging_user("add_outboundmessage", "view_outboundmessage", username="sender")


@pytest.fixture
def sender(sender_user, api_client_for):
    return api_client_for(sender_user)


def post(client, body, **headers):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.generic("POST", LIST, raw, content_type="application/json", headers=headers)


def test_send_answers_202_with_the_queued_row_and_enqueues_its_send_after_commit(
    sender, django_capture_on_commit_callbacks, monkeypatch
):
    published = []
    monkeypatch.setattr("messaging.services.outbox.task_enqueue", lambda **kwargs: published.append(kwargs) or True)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(sender, {"chat_id": CHAT, "text": "Your order has shipped"})

    assert response.status_code == 202
    body = response.json()
    row = OutboundMessage.objects.get()
    assert body["id"] == row.pk and body["status"] == "queued" and body["chat_id"] == CHAT
    assert body["attempts"] == 0 and body["id_message"] == "" and body["last_error"] == ""
    assert row.text == "Your order has shipped" and row.trigger is None and row.inbound is None
    assert published == [{"task_name": SEND_TASK, "args": [row.pk]}]


def test_a_phone_number_becomes_its_personal_chat(sender):
    response = post(sender, {"phone": "+7 (900) 555-01-01", "text": "hi"})
    assert response.status_code == 202
    assert response.json()["chat_id"] == "79005550101@c.us"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"chat_id": CHAT, "text": "a" * 20_001}, "text", "has 20001 characters; at most 20000 are allowed"),
        ({"chat_id": CHAT, "text": ""}, "text", "must not be empty"),
        ({"chat_id": CHAT, "text": " \n\t "}, "text", "must not be empty"),
        ({"chat_id": CHAT, "text": 42}, "text", "Not a valid string"),
        ({"chat_id": CHAT, "text": None}, "text", "may not be null"),
        ({"chat_id": CHAT, "text": ["hi"]}, "text", "Not a valid string"),
        ({"chat_id": CHAT, "text": {"deep": {"er": 1}}}, "text", "Not a valid string"),
        ({"chat_id": CHAT, "text": True}, "text", "Not a valid string"),
        ({"chat_id": CHAT}, "text", "required"),
        ({"text": "hi"}, "chat_id", "exactly one of chat_id and phone"),
        ({"chat_id": CHAT, "phone": "+79005550101", "text": "hi"}, "chat_id", "exactly one"),
        ({"chat_id": "7900@c.us", "text": "hi"}, "chat_id", "is not a valid @c.us id"),
        ({"chat_id": "79005550101@s.whatsapp.net", "text": "hi"}, "chat_id", "ends in @c.us, @g.us or @lid"),
        ({"chat_id": "٧٩٠٠٥٥٥٠١٠١@c.us", "text": "hi"}, "chat_id", "is not a valid @c.us id"),
        ({"chat_id": "７９００５５５０１０１", "text": "hi"}, "chat_id", "7-15 digits"),
        ({"chat_id": "x" * 300, "text": "hi"}, "chat_id", "no more than 255 characters"),
        ({"chat_id": 79005550101, "text": "hi"}, "chat_id", "Not a valid string"),
        ({"chat_id": 1e300, "text": "hi"}, "chat_id", "Not a valid string"),
        ({"phone": "12", "text": "hi"}, "phone", "7-15 digits"),
        ({"phone": 79005550101, "text": "hi"}, "phone", "Not a valid string"),
        ({"phone": "+7900abc", "text": "hi"}, "phone", "7-15 digits"),
        ({"phone": "79005550101@c.us", "text": "hi"}, "phone", "not a chat id"),
        ({"chat_id": CHAT, "text": "hi", "idempotency_key": ""}, "idempotency_key", "1 to 200"),
        ({"chat_id": CHAT, "text": "hi", "idempotency_key": "has space"}, "idempotency_key", "visible ASCII"),
        ({"chat_id": CHAT, "text": "hi", "idempotency_key": "ключ"}, "idempotency_key", "visible ASCII"),
        ({"chat_id": CHAT, "text": "hi", "idempotency_key": "k" * 201}, "idempotency_key", "1 to 200"),
        ({"chat_id": CHAT, "text": "hi", "idempotency_key": 7}, "idempotency_key", "Not a valid string"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(sender, body, field, message):
    response = post(sender, body)
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        '{"chat_id": "79005550101@c.us", "text": NaN}',
        '{"chat_id": "79005550101@c.us", "text": "hi", "x": Infinity}',
        '{"chat_id": "79005550101@c.us", "text": "hi", "x": ' + "9" * 5000 + "}",
        '{"chat_id": "79005550101@c.us", "text": "\\ud800"}',
        '{"chat_id": "79005550101@c.us", "text": "hi", "x": ' + "[" * 10_000 + "]" * 10_000 + "}",
        "[" * 100_000,
        '{"chat_id": "79005550101@c.us", "text": "hi"',
        "not json",
        b'{"text": "\xff"}',
        '{"chat_id": "79005550101@c.us", "text": "a\\u0000b"}',
        '{"chat_id": "79005550101@c.us\\u0000", "text": "hi"}',
        '{"chat_id": "79005550101@c.us", "text": "hi", "idempotency_key": "\\u0000"}',
    ],
)
def test_hostile_bodies_are_400_and_write_nothing(sender, raw):
    response = post(sender, raw)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize("raw", ["[]", '"text"', "42", "null", "true"])
def test_a_body_that_is_not_an_object_is_400(sender, raw):
    response = post(sender, raw)
    assert response.status_code == 400
    assert not OutboundMessage.objects.exists()


def test_a_body_over_the_upload_limit_is_refused_unread(sender, settings):
    response = post(sender, json.dumps({"chat_id": CHAT, "text": "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)}))
    assert response.status_code == 400  # Django's RequestDataTooBig
    assert not OutboundMessage.objects.exists()


def test_a_form_encoded_body_is_not_read_as_a_message(sender):
    response = sender.post(LIST, {"chat_id": CHAT, "text": "hi"})  # multipart
    # The input guard reads form bodies first (for NUL), so DRF sees no body rather than a media type it refuses.
    assert response.status_code == 400 and "text" in response.json()
    assert not OutboundMessage.objects.exists()


def test_unknown_fields_are_ignored(sender):
    response = post(sender, {"chat_id": CHAT, "text": "hi", "priority": "urgent", "nested": {"a": [1, 2]}})
    assert response.status_code == 202


def test_a_repeated_idempotency_key_returns_the_same_row_not_a_second_message(sender):
    first = post(sender, {"chat_id": CHAT, "text": "Your order has shipped"}, **{"Idempotency-Key": "order-77"})
    again = post(sender, {"chat_id": CHAT, "text": "Your order has shipped"}, **{"Idempotency-Key": "order-77"})
    by_field = post(sender, {"chat_id": CHAT, "text": "Your order has shipped", "idempotency_key": "order-77"})

    assert first.status_code == again.status_code == by_field.status_code == 202
    assert first.json()["id"] == again.json()["id"] == by_field.json()["id"]
    assert OutboundMessage.objects.count() == 1
    assert OutboundMessage.objects.get().idempotency_key.endswith(":order-77")


def test_the_same_key_for_a_different_message_is_409(sender):
    post(sender, {"chat_id": CHAT, "text": "Your order has shipped"}, **{"Idempotency-Key": "order-77"})
    response = post(sender, {"chat_id": CHAT, "text": "Your order is late"}, **{"Idempotency-Key": "order-77"})
    assert response.status_code == 409
    assert response.json()["reason"] == "idempotency_conflict"
    assert OutboundMessage.objects.count() == 1


def test_header_and_field_keys_must_agree(sender):
    response = post(sender, {"chat_id": CHAT, "text": "hi", "idempotency_key": "a"}, **{"Idempotency-Key": "b"})
    assert response.status_code == 400
    assert "differs from the Idempotency-Key header" in response.json()["idempotency_key"][0]
    bad_header = post(sender, {"chat_id": CHAT, "text": "hi"}, **{"Idempotency-Key": "two words"})
    assert bad_header.status_code == 400 and "header" in bad_header.json()["idempotency_key"][0]


def test_keys_are_per_client_so_one_cannot_read_anothers_row(sender, messaging_user, api_client_for):
    other = api_client_for(messaging_user("add_outboundmessage", username="other"))
    mine = post(sender, {"chat_id": CHAT, "text": "mine"}, **{"Idempotency-Key": "k1"})
    theirs = post(other, {"chat_id": CHAT, "text": "theirs"}, **{"Idempotency-Key": "k1"})
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_key_cannot_reach_the_pipelines_rows(sender, make_outbound):
    make_outbound("trigger reply", idempotency_key="inbound:1:trigger:1")
    response = post(sender, {"chat_id": CHAT, "text": "hi"}, **{"Idempotency-Key": "inbound:1:trigger:1"})
    assert response.status_code == 202
    assert OutboundMessage.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_write_one_row(sender_user):
    token = Token.objects.create(user=sender_user).key
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8, timeout=20)

    def send() -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            barrier.wait()
            response = post(client, {"chat_id": CHAT, "text": "once"}, **{"Idempotency-Key": "same"})
            results.append((response.status_code, response.json()["id"]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, daemon=True) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(results) == 8 and {status for status, _ in results} == {202}
    assert len({row_id for _, row_id in results}) == 1
    assert OutboundMessage.objects.count() == 1


def test_sending_needs_add_outboundmessage(messaging_user, api_client_for):
    reader = api_client_for(messaging_user("view_outboundmessage", username="reader"))
    response = post(reader, {"chat_id": CHAT, "text": "hi"})
    assert response.status_code == 403
    assert "messaging.add_outboundmessage" in response.json()["detail"]
    assert not OutboundMessage.objects.exists()


def test_anonymous_gets_401(client):
    response = client.post(LIST, {"chat_id": CHAT, "text": "hi"}, content_type="application/json")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


# --- reading -------------------------------------------------------------------------------------


def test_detail_shows_status_id_message_attempts_redacted_error_and_times(sender, make_outbound, settings):
    row = make_outbound(
        status=OutboundStatus.FAILED,
        id_message="3EB0C767D097B7C7C030",
        attempts=3,
        last_error=f"GreenApiRejected: 401 at /waInstance1101000001/sendMessage/{settings.GREEN_API_TOKEN}",
    )
    for path in (f"{LIST}{row.pk}", f"{LIST}{row.pk}/"):
        response = sender.get(path)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "failed" and body["id_message"] == "3EB0C767D097B7C7C030"
        assert body["attempts"] == 3
        assert settings.GREEN_API_TOKEN not in body["last_error"] and "[REDACTED]" in body["last_error"]
        assert {"created_at", "queued_at", "sending_at", "sent_at", "delivered_at", "read_at", "failed_at"} <= set(body)


@pytest.mark.parametrize("message_id", ["0", "999999", "abc", "1e3", "99999999999999999999999", "١٢", "-1"])
def test_unknown_ids_are_a_json_404(sender, message_id):
    response = sender.get(f"{LIST}{message_id}")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no outbound message")


def test_reading_needs_view_outboundmessage(messaging_user, api_client_for, make_outbound):
    row = make_outbound()
    writer = api_client_for(messaging_user("add_outboundmessage", username="writer"))
    assert writer.get(f"{LIST}{row.pk}").status_code == 403
    assert writer.get(LIST).status_code == 403


def test_the_list_is_cursor_paginated_newest_first_and_filters(sender, make_outbound):
    rows = [make_outbound(f"m{i}", status="sent" if i % 3 == 0 else "queued") for i in range(60)]
    make_outbound("elsewhere", chat_id="79007770000@c.us")
    first = sender.get(LIST + f"?chat_id={CHAT}").json()
    assert [r["id"] for r in first["results"]] == [r.pk for r in rows[::-1][:50]]
    second = sender.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [r.pk for r in rows[::-1][50:]]
    assert second["next"] is None
    sent = sender.get(LIST + "?status=sent&page_size=100").json()["results"]
    assert len(sent) == 20 and {r["status"] for r in sent} == {"sent"}
    assert sender.get(LIST + "?status=lost").status_code == 400
    assert sender.get(LIST + "?chat_id=a%00b").status_code == 400
    assert sender.get(LIST + "?cursor=garbage").status_code == 404
