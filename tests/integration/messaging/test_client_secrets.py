"""The Green API token (the last segment of every URL) and the DeepSeek key never show in an
exception, its traceback, a repr or a log line, whatever goes wrong."""

from __future__ import annotations

import pytest

from messaging.clients.deepseek import DeepSeekClient, get_deepseek_client
from messaging.clients.green_api import GreenApiClient, get_green_api_client
from reliability.errors import ReliabilityError
from tests.httpserver import Reply, unresponsive_port
from tests.integration.messaging.conftest import (
    DEEPSEEK_KEY,
    GREEN_API_INSTANCE,
    GREEN_API_TOKEN,
    TIMEOUT,
    completion,
    exception_text,
)
from tests.services import free_port

# A token that is not in settings, so only the client's own scrubbing can hide it.
UNLISTED_TOKEN = "unlisted-instance-token-77e1d0"

FAILURES = [
    pytest.param(Reply(delay=TIMEOUT + 0.3), id="read-timeout"),
    pytest.param(Reply(action="reset_after_read"), id="reset"),
    pytest.param(Reply(action="close_after_read"), id="closed"),
    pytest.param(Reply(action="truncate_body", json={"idMessage": "X"}), id="truncated"),
    pytest.param(Reply(status=500, body="internal error"), id="500"),
    pytest.param(Reply(status=400, json={"message": f"bad token {GREEN_API_TOKEN} {UNLISTED_TOKEN}"}), id="400-echo"),
    pytest.param(Reply(status=401, body=f"unknown token {GREEN_API_TOKEN} {UNLISTED_TOKEN}"), id="401-echo"),
    pytest.param(Reply(body="not json"), id="garbage"),
]


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize("reply", FAILURES)
@pytest.mark.parametrize("call", ["send_message", "get_state_instance"])
def test_green_api_failures_never_show_the_token(green_api, log_text, reply, call):
    green_api.queue(reply, reply)
    client = get_green_api_client()
    assert_hidden(repr(client), GREEN_API_TOKEN)
    with client, pytest.raises(ReliabilityError) as raised:
        if call == "send_message":
            client.send_message("79001234567", "hi")
        else:
            client.get_state_instance()
    assert green_api.count() >= 1  # the token did go out, in the path
    assert_hidden(exception_text(raised.value), GREEN_API_TOKEN)
    assert_hidden(log_text(), GREEN_API_TOKEN)


@pytest.mark.parametrize("reply", FAILURES)
def test_a_token_missing_from_settings_is_scrubbed_by_the_client_itself(green_api, log_text, reply):
    green_api.queue(reply, reply)
    client = GreenApiClient(
        api_url=green_api.url,
        id_instance=GREEN_API_INSTANCE,
        token=UNLISTED_TOKEN,
        connect_timeout=TIMEOUT,
        read_timeout=TIMEOUT,
    )
    with client, pytest.raises(ReliabilityError) as raised:
        client.send_message("79001234567", "hi")
    assert green_api.received()[0].path.endswith(f"/sendMessage/{UNLISTED_TOKEN}")
    assert_hidden(exception_text(raised.value) + repr(client), UNLISTED_TOKEN)
    assert_hidden(log_text(), UNLISTED_TOKEN)


@pytest.mark.parametrize("where", ["refused", "connect-timeout"])
def test_network_failures_never_show_the_token(settings, green_api, log_text, where):
    with unresponsive_port() as silent:
        port = free_port() if where == "refused" else silent
        settings.GREEN_API_URL = f"http://127.0.0.1:{port}"
        with get_green_api_client() as client, pytest.raises(ReliabilityError) as raised:
            client.send_message("79001234567", "hi")
    assert_hidden(exception_text(raised.value), GREEN_API_TOKEN)
    assert_hidden(log_text(), GREEN_API_TOKEN)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(
            Reply(status=401, json={"error": {"message": f"Authentication Fails ({DEEPSEEK_KEY})"}}), id="401"
        ),
        pytest.param(Reply(status=500, body=f"upstream saw Bearer {DEEPSEEK_KEY}"), id="500"),
        pytest.param(Reply(delay=TIMEOUT + 0.3), id="read-timeout"),
        pytest.param(Reply(json=completion(f"not json {DEEPSEEK_KEY}")), id="garbage"),
    ],
)
def test_deepseek_failures_never_show_the_key(deepseek, log_text, reply):
    deepseek.queue(reply, reply)
    client = get_deepseek_client()
    with pytest.raises(ReliabilityError) as raised:
        client.analyze_sentiment("hello")
    assert deepseek.received()[0].headers["authorization"] == f"Bearer {DEEPSEEK_KEY}"
    assert_hidden(exception_text(raised.value) + repr(client), DEEPSEEK_KEY)
    assert_hidden(log_text(), DEEPSEEK_KEY)


def test_a_deepseek_key_missing_from_settings_is_scrubbed_by_the_client_itself(deepseek, log_text):
    key = "sk-unlisted-key-2f9a"
    deepseek.queue(*[Reply(status=401, body=f"bad key {key}")] * 2)
    client = DeepSeekClient(
        base_url=deepseek.url, api_key=key, model="deepseek-v4-flash", connect_timeout=TIMEOUT, read_timeout=TIMEOUT
    )
    with client, pytest.raises(ReliabilityError) as raised:
        client.analyze_sentiment("hello")
    assert_hidden(exception_text(raised.value), key)
    assert_hidden(log_text(), key)
