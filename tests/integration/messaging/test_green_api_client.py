"""The Green API client over real sockets: what it sends, how it maps every answer, when it
retries, when it must not (the ambiguous send), its breaker, and its entry points."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from messaging.clients.errors import (
    GreenApiQuotaExceeded,
    GreenApiRejected,
    InvalidRequest,
    InvalidResponse,
    SendOutcomeUnknown,
    UpstreamUnavailable,
)
from messaging.clients.green_api import AsyncGreenApiClient, GreenApiClient, get_green_api_client
from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.models import BreakerState
from reliability.errors import CircuitOpenError, RateLimited
from reliability.retry import RetryConfig, RetryHandler
from tests.httpserver import LoopbackServer, Reply, unresponsive_port
from tests.integration.messaging.conftest import GREEN_API_INSTANCE, GREEN_API_TOKEN, ID_MESSAGE, TIMEOUT, metric
from tests.services import free_port

SEND = "/sendMessage/"


def send(text: str = "Your order has shipped", to: str = "79001234567") -> str:
    with get_green_api_client() as client:
        return client.send_message(to, text)


# --- what goes on the wire ----------------------------------------------------------


def test_send_message_posts_the_documented_request_and_returns_the_id(green_api):
    assert send("Hello, Anna", to="+7 900 123-45-67") == ID_MESSAGE
    [request] = green_api.received()
    assert request.method == "POST"
    assert request.path == f"/waInstance{GREEN_API_INSTANCE}/sendMessage/{GREEN_API_TOKEN}"
    assert request.json() == {"chatId": "79001234567@c.us", "message": "Hello, Anna"}
    assert request.headers["content-type"] == "application/json"


def test_a_quoted_reply_carries_the_quoted_message_id(green_api):
    with get_green_api_client() as client:
        client.send_message("120363043968066561@g.us", "Noted", quoted_message_id="BAE5F4886F6F2D05")
    assert green_api.received()[0].json() == {
        "chatId": "120363043968066561@g.us",
        "message": "Noted",
        "quotedMessageId": "BAE5F4886F6F2D05",
    }


@pytest.mark.parametrize(
    "to, text",
    [
        ("not-a-phone", "hi"),
        ("79001234567@s.whatsapp.net", "hi"),
        ("123", "hi"),
        ("79001234567\x00", "hi"),
        ("79001234567", ""),
        ("79001234567", "   "),
        ("79001234567", "x" * 20_001),
        ("79001234567", "nul\x00byte"),
    ],
)
def test_bad_recipients_and_texts_are_refused_before_any_call(green_api, to, text):
    with pytest.raises(InvalidRequest):
        send(text, to=to)
    assert green_api.count() == 0


def test_a_message_of_exactly_20000_characters_is_sent(green_api):
    send("é" * 20_000)
    assert len(green_api.received()[0].json()["message"]) == 20_000


def test_reads_parse_their_documented_answers(green_api):
    green_api.queue(Reply(json={"stateInstance": "authorized"}), path="/getStateInstance/")
    green_api.queue(Reply(json=None), path="/getStateInstance/")
    green_api.queue(
        Reply(json={"webhookUrl": "https://example.com/hook", "incomingWebhook": "yes"}), path="/getSettings/"
    )
    green_api.queue(Reply(json={"saveSettings": True}), path="/setSettings/")
    journal = [{"type": "outgoing", "idMessage": "3EB0", "chatId": "79001234567@c.us", "textMessage": "hi"}]
    green_api.queue(Reply(json=journal), path="/lastOutgoingMessages/")
    notification = {"receiptId": 7, "body": {"typeWebhook": "incomingMessageReceived"}}
    green_api.queue(Reply(json=notification), Reply(json=None), path="/receiveNotification/")
    green_api.queue(Reply(json={"result": True}), path="/deleteNotification/")
    with get_green_api_client() as client:
        assert client.get_state_instance() == "authorized"
        assert client.get_state_instance() is None
        assert client.get_settings()["incomingWebhook"] == "yes"
        assert client.set_settings({"webhookUrl": "https://example.com/hook", "incomingWebhook": "yes"}) is True
        assert client.last_outgoing_messages(minutes=3) == journal
        assert client.receive_notification(receive_timeout=5) == notification
        assert client.receive_notification(receive_timeout=5) is None
        assert client.delete_notification(7) is True
    by_path = {request.path.split("/")[2]: request for request in green_api.received()}
    assert by_path["lastOutgoingMessages"].query == {"minutes": ["3"]}
    assert by_path["receiveNotification"].query == {"receiveTimeout": ["5"]}
    assert by_path["deleteNotification"].method == "DELETE"
    assert by_path["deleteNotification"].path.endswith(f"/deleteNotification/{GREEN_API_TOKEN}/7")
    assert by_path["setSettings"].json() == {"webhookUrl": "https://example.com/hook", "incomingWebhook": "yes"}


def test_receive_notification_waits_longer_than_the_read_timeout(green_api):
    # Green API holds receiveNotification open for up to receiveTimeout seconds.
    green_api.queue(Reply(json=None, delay=TIMEOUT + 0.3), path="/receiveNotification/")
    with get_green_api_client() as client:
        assert client.receive_notification(receive_timeout=5) is None
    assert green_api.count() == 1


# --- error answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, body, error",
    [
        (400, {"message": "Validation failed"}, GreenApiRejected),
        (401, {"message": "Unauthorized"}, GreenApiRejected),
        (403, {"message": "Forbidden"}, GreenApiRejected),
        (404, "Not Found", GreenApiRejected),
        (466, {"invokeStatus": {"status": "QUOTE_EXCEEDED"}, "correspondentsStatus": {}}, GreenApiQuotaExceeded),
    ],
)
def test_permanent_answers_are_not_retried(green_api, status, body, error):
    green_api.queue(Reply(status=status, json=body) if isinstance(body, dict) else Reply(status=status, body=body))
    with pytest.raises(error) as raised:
        send()
    assert raised.value.status == status
    assert green_api.count() == 1
    if status == 400:
        assert raised.value.description == "Validation failed"


def test_a_redirect_is_not_followed(green_api):
    # Following it would send the token in the path to wherever Location points.
    green_api.queue(Reply(status=302, headers={"Location": "http://127.0.0.1:1/elsewhere"}))
    with pytest.raises(GreenApiRejected):
        send()
    assert green_api.count() == 1


@pytest.mark.parametrize("status", [499, 500, 502, 503])
def test_retryable_answers_to_send_are_retried(green_api, status):
    green_api.queue(Reply(status=status, json={"message": "try later"}))
    assert send() == ID_MESSAGE
    assert green_api.count(SEND) == 2


def test_retries_are_bounded(green_api):
    green_api.queue(*[Reply(status=500)] * 5)
    with pytest.raises(UpstreamUnavailable) as raised:
        send()
    assert raised.value.status == 500
    assert green_api.count() == 2  # the testing profile: one retry


def test_429_waits_as_long_as_retry_after_says(green_api):
    green_api.queue(Reply(status=429, headers={"Retry-After": "0.08"}))
    assert send() == ID_MESSAGE
    first, second = green_api.received()
    assert second.at - first.at >= 0.08


def test_a_retry_after_longer_than_an_in_process_wait_goes_back_to_the_caller(green_api):
    green_api.queue(Reply(status=429, headers={"Retry-After": "30"}))
    started = time.monotonic()
    with pytest.raises(RateLimited) as raised:
        send()
    assert raised.value.retry_after == 30
    assert time.monotonic() - started < 1.0
    assert green_api.count() == 1


def test_get_calls_retry_transient_errors(green_api):
    green_api.queue(Reply(status=503), Reply(json={"stateInstance": "authorized"}), path="/getStateInstance/")
    with get_green_api_client() as client:
        assert client.get_state_instance() == "authorized"
    assert green_api.count() == 2


# --- the ambiguous send -------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(json={"idMessage": "LATE"}, delay=TIMEOUT + 0.5), id="answer-after-read-timeout"),
        pytest.param(Reply(action="close_after_read"), id="closed-after-read"),
        pytest.param(Reply(action="reset_after_read"), id="reset-after-read"),
        pytest.param(Reply(json={"idMessage": "3EB0C767D097B7C7C030"}, action="truncate_body"), id="truncated-body"),
        pytest.param(Reply(json={"idMessage": "3EB0C767D097B7C7C030"}, action="break_chunked"), id="broken-chunked"),
        pytest.param(Reply(body="<html>gateway</html>"), id="200-not-json"),
        pytest.param(Reply(json={"id": "no idMessage here"}), id="200-without-id"),
        pytest.param(Reply(status=504), id="504-gateway-timeout"),
    ],
)
def test_a_send_that_may_have_been_accepted_is_unknown_and_never_retried(green_api, reply):
    green_api.queue(reply)
    retried_before = metric("retry_attempts_total", service="green_api", outcome="retried")
    with pytest.raises(SendOutcomeUnknown):
        send()
    time.sleep(TIMEOUT + 0.2)  # a retry, had there been one, would have arrived by now
    assert green_api.count(SEND) == 1
    assert metric("retry_attempts_total", service="green_api", outcome="retried") == retried_before


def test_a_connection_dropped_before_the_request_was_read_is_still_unknown(green_api):
    # The client cannot tell "dropped unread" from "read, then dropped": it errs on the side
    # of never sending twice.
    green_api.queue(Reply(action="drop_before_read"))
    with pytest.raises(SendOutcomeUnknown):
        send()
    assert green_api.count(SEND) == 0


def test_an_unknown_outcome_is_not_a_transient_error():
    from reliability.errors import TransientError

    assert not issubclass(SendOutcomeUnknown, TransientError)


def test_a_refused_connection_is_retried_because_nothing_was_sent():
    port = free_port()
    servers: list[LoopbackServer] = []

    def start_server_then_wait(seconds: float) -> None:
        servers.append(LoopbackServer(port=port, default=Reply(json={"idMessage": "AFTER-REFUSAL"})).start())

    client = GreenApiClient(
        api_url=f"http://127.0.0.1:{port}",
        id_instance=GREEN_API_INSTANCE,
        token=GREEN_API_TOKEN,
        connect_timeout=TIMEOUT,
        read_timeout=TIMEOUT,
        retry=RetryHandler(RetryConfig(service="green_api"), sleep=start_server_then_wait),
    )
    try:
        assert client.send_message("79001234567", "hi") == "AFTER-REFUSAL"
        assert servers[0].count(SEND) == 1
    finally:
        client.close()
        for server in servers:
            server.stop()


def test_a_connect_timeout_is_retried_and_then_raised_as_transient(settings, green_api):
    with unresponsive_port() as port:
        settings.GREEN_API_URL = f"http://127.0.0.1:{port}"
        retried_before = metric("retry_attempts_total", service="green_api", outcome="retried")
        started = time.monotonic()
        with pytest.raises(UpstreamUnavailable) as raised:
            send()
        elapsed = time.monotonic() - started
    assert raised.value.request_sent is False
    assert "ConnectTimeout" in str(raised.value)
    assert metric("retry_attempts_total", service="green_api", outcome="retried") == retried_before + 1
    assert elapsed >= 2 * TIMEOUT


def test_a_read_timeout_on_a_read_is_retried(green_api):
    green_api.queue(Reply(delay=TIMEOUT + 0.3), Reply(json={"stateInstance": "authorized"}), path="/getStateInstance/")
    with get_green_api_client() as client:
        assert client.get_state_instance() == "authorized"
    assert green_api.count() == 2


# --- garbage answers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body="not json"),
        Reply(body=b"\xff\xfe\x00"),
        Reply(json={"stateInstance": 42}),
        Reply(json=["authorized"]),
        Reply(body='{"stateInstance": NaN}'),
        Reply(body="[" * 100_000 + "]" * 100_000),
    ],
)
def test_a_garbage_answer_to_a_read_is_an_invalid_response_not_a_crash(green_api, reply):
    green_api.queue(reply, reply, path="/getStateInstance/")
    with get_green_api_client() as client, pytest.raises(InvalidResponse):
        client.get_state_instance()


def test_answers_larger_than_the_cap_are_refused(green_api):
    huge = [{"type": "outgoing", "textMessage": "x" * 1000}] * 5000  # about 5 MB
    green_api.queue(Reply(json=huge), Reply(json=huge), path="/lastOutgoingMessages/")
    with get_green_api_client() as client, pytest.raises(InvalidResponse, match="larger than"):
        client.last_outgoing_messages(minutes=5)


@pytest.mark.parametrize(
    "call",
    [
        lambda client: client.last_outgoing_messages(minutes=0),
        lambda client: client.last_outgoing_messages(minutes=True),
        lambda client: client.receive_notification(receive_timeout=61),
        lambda client: client.delete_notification(-1),
        lambda client: client.set_settings({}),
        lambda client: client.set_settings({"delaySendMessagesMilliseconds": float("nan")}),
    ],
)
def test_bad_arguments_are_refused_before_any_call(green_api, call):
    with get_green_api_client() as client, pytest.raises(InvalidRequest):
        call(client)
    assert green_api.count() == 0


# --- the breaker --------------------------------------------------------------------


def test_our_own_bad_requests_never_open_the_shared_breaker(green_api):
    green_api.queue(*[Reply(status=400, json={"message": "Validation failed"})] * 12)
    for _ in range(12):
        with pytest.raises(GreenApiRejected):
            send()
    assert get_circuit_breaker("green_api").state == BreakerState.CLOSED
    assert send() == ID_MESSAGE


def test_5xx_answers_open_the_breaker_and_then_calls_are_rejected_without_a_request(green_api):
    threshold = get_circuit_breaker("green_api").config.failure_threshold
    green_api.queue(*[Reply(status=500)] * 20)
    for _ in range(threshold):
        try:
            send()
        except UpstreamUnavailable:
            continue
        except CircuitOpenError:
            break
    assert get_circuit_breaker("green_api").state == BreakerState.OPEN
    assert green_api.count() == threshold
    with pytest.raises(CircuitOpenError):
        send()
    assert green_api.count() == threshold


def test_ambiguous_sends_count_as_failures_for_the_breaker(green_api):
    green_api.queue(Reply(action="reset_after_read"))
    with pytest.raises(SendOutcomeUnknown):
        send()
    assert get_circuit_breaker("green_api").snapshot().consecutive_failures == 1


# --- sessions and entry points ------------------------------------------------------


def test_calls_share_one_keep_alive_connection(green_api):
    for _ in range(3):
        send()
    assert green_api.connections == 1
    assert len({request.client_port for request in green_api.received()}) == 1


def test_leaving_with_keeps_the_process_session_open_but_a_private_one_is_closed(green_api):
    with get_green_api_client() as client:
        client.send_message("79001234567", "one")
    with get_green_api_client() as client:
        client.send_message("79001234567", "two")
    assert green_api.connections == 1
    own = GreenApiClient(
        api_url=green_api.url,
        id_instance=GREEN_API_INSTANCE,
        token=GREEN_API_TOKEN,
        connect_timeout=TIMEOUT,
        read_timeout=TIMEOUT,
    )
    with own:
        own.send_message("79001234567", "three")
    assert green_api.connections == 2


def test_async_with_awaits_the_same_calls(green_api):
    async def scenario() -> tuple[str, str | None]:
        async with get_green_api_client() as client:
            assert isinstance(client, AsyncGreenApiClient)
            sent = await client.send_message("79001234567", "async hello")
            state = await client.get_state_instance()
        await sync_to_async(connections.close_all)()
        return sent, state

    green_api.queue(Reply(json={"stateInstance": "authorized"}), path="/getStateInstance/")
    assert asyncio.run(scenario()) == (ID_MESSAGE, "authorized")
    assert green_api.received(SEND)[0].json()["message"] == "async hello"


def test_async_sends_keep_the_ambiguous_outcome(green_api):
    async def scenario() -> None:
        try:
            async with get_green_api_client() as client:
                await client.send_message("79001234567", "hi")
        finally:
            await sync_to_async(connections.close_all)()

    green_api.queue(Reply(action="close_after_read"))
    with pytest.raises(SendOutcomeUnknown):
        asyncio.run(scenario())
    assert green_api.count(SEND) == 1


def test_missing_settings_are_a_clear_configuration_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.GREEN_API_TOKEN = None
    with pytest.raises(ImproperlyConfigured, match="GREEN_API_TOKEN is not set"):
        get_green_api_client()


def test_a_client_whose_url_cannot_be_requested_refuses_without_an_unknown_outcome(green_api):
    client = GreenApiClient(
        api_url="no-scheme.example", id_instance="1", token=GREEN_API_TOKEN, connect_timeout=0.5, read_timeout=0.5
    )
    with client, pytest.raises(InvalidRequest, match="nothing was sent"):
        client.send_message("79001234567", "hi")
    assert get_circuit_breaker("green_api").snapshot().consecutive_failures == 0
