"""The tables that turn HTTP answers and network failures into our errors."""

from __future__ import annotations

import pytest
import requests
import urllib3

from messaging.clients import deepseek, green_api
from messaging.clients.errors import (
    DeepSeekRejected,
    GreenApiQuotaExceeded,
    GreenApiRejected,
    InvalidRequest,
    InvalidResponse,
    SendOutcomeUnknown,
    UpstreamUnavailable,
)
from messaging.clients.http import Reply, describe_network_failure, parse_json, request_never_left
from reliability.breaker.breaker import counts_as_failure
from reliability.breaker.config import CircuitBreakerConfig
from reliability.errors import PermanentError, RateLimited, TransientError


def reply(status: int, body: bytes = b"", **headers: str) -> Reply:
    return Reply(status=status, headers=headers, body=body)


@pytest.mark.parametrize(
    "status, error",
    [
        (200, None),
        (204, None),
        (302, GreenApiRejected),
        (400, GreenApiRejected),
        (401, GreenApiRejected),
        (403, GreenApiRejected),
        (404, GreenApiRejected),
        (408, UpstreamUnavailable),
        (429, RateLimited),
        (466, GreenApiQuotaExceeded),
        (499, UpstreamUnavailable),
        (500, UpstreamUnavailable),
        (502, UpstreamUnavailable),
        (503, UpstreamUnavailable),
        (504, UpstreamUnavailable),
        (599, UpstreamUnavailable),
        (600, InvalidResponse),
    ],
)
def test_green_api_statuses(status, error):
    if error is None:
        green_api.raise_for_status(reply(status), call="c")
        return
    with pytest.raises(error) as raised:
        green_api.raise_for_status(reply(status), call="c")
    assert type(raised.value) is error


@pytest.mark.parametrize(
    "status, error",
    [
        (200, None),
        (400, DeepSeekRejected),
        (401, DeepSeekRejected),
        (402, DeepSeekRejected),
        (422, DeepSeekRejected),
        (429, RateLimited),
        (500, UpstreamUnavailable),
        (503, UpstreamUnavailable),
    ],
)
def test_deepseek_statuses(status, error):
    if error is None:
        deepseek.raise_for_status(reply(status), call="c")
        return
    with pytest.raises(error):
        deepseek.raise_for_status(reply(status), call="c")


def test_retry_after_is_read_from_429_and_503_only():
    with pytest.raises(RateLimited) as limited:
        green_api.raise_for_status(reply(503, **{"Retry-After": "12"}), call="c")
    assert limited.value.retry_after == 12
    with pytest.raises(RateLimited) as limited:
        green_api.raise_for_status(reply(429), call="c")
    assert limited.value.retry_after is None
    with pytest.raises(UpstreamUnavailable) as unavailable:
        green_api.raise_for_status(reply(500, **{"Retry-After": "12"}), call="c")
    assert unavailable.value.status == 500


def test_the_quota_error_is_a_rejection_and_permanent():
    assert issubclass(GreenApiQuotaExceeded, GreenApiRejected)
    assert issubclass(GreenApiRejected, PermanentError)
    assert issubclass(DeepSeekRejected, PermanentError)
    assert issubclass(InvalidRequest, PermanentError)
    assert issubclass(UpstreamUnavailable, TransientError)
    assert issubclass(InvalidResponse, TransientError)
    assert not issubclass(SendOutcomeUnknown, TransientError | PermanentError)


@pytest.mark.parametrize(
    "error, counts",
    [
        (GreenApiRejected(400, "Validation failed"), False),
        (GreenApiQuotaExceeded(466, "QUOTE_EXCEEDED"), False),
        (DeepSeekRejected(402, "Insufficient Balance"), False),
        (InvalidRequest("message", "must not be empty"), False),
        (UpstreamUnavailable("down", status=500), True),
        (UpstreamUnavailable("refused", request_sent=False), True),
        (InvalidResponse("garbage"), True),
        (RateLimited("slow down"), True),
    ],
)
def test_the_breaker_counts_only_what_says_the_remote_is_unwell(error, counts):
    assert counts_as_failure(error, CircuitBreakerConfig()) is counts


def test_error_descriptions_come_from_the_answer_and_are_redacted():
    body = b'{"message": "bad /waInstance1101000001/sendMessage/abcdef123456 call"}'
    with pytest.raises(GreenApiRejected) as raised:
        green_api.raise_for_status(reply(400, body), call="Green API sendMessage", secrets=("zzzz-secret",))
    assert raised.value.description == "bad /waInstance1101000001/sendMessage/[REDACTED] call"
    with pytest.raises(GreenApiRejected) as raised:
        green_api.raise_for_status(reply(401, b"token zzzz-secret unknown"), call="c", secrets=("zzzz-secret",))
    assert "zzzz-secret" not in str(raised.value)
    assert len(GreenApiRejected(400, "x" * 5000).description) <= 300


def _connect_error(reason: Exception) -> requests.ConnectionError:
    return requests.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/waInstance1/m/tok-123456", reason))


@pytest.mark.parametrize(
    "exc, never_left",
    [
        (requests.ConnectTimeout("connect timed out"), True),
        (_connect_error(urllib3.exceptions.NewConnectionError(None, "Connection refused")), True),
        (_connect_error(urllib3.exceptions.NameResolutionError("h", None, OSError())), True),
        (
            requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError())),
            False,
        ),
        (requests.ReadTimeout("read timed out"), False),
        (requests.exceptions.ChunkedEncodingError("broken"), False),
        (requests.ConnectionError("something else"), False),
    ],
)
def test_only_connect_failures_prove_the_request_never_left(exc, never_left):
    assert request_never_left(exc) is never_left


def test_network_failures_are_described_without_the_url():
    text = describe_network_failure(
        _connect_error(urllib3.exceptions.NewConnectionError(None, "Connection refused")), ("tok-123456",)
    )
    assert "tok-123456" not in text and "/waInstance" not in text
    assert text.startswith("ConnectionError: ")


@pytest.mark.parametrize(
    "body, value",
    [(b'{"a": 1}', {"a": 1}), (b'\n\n\n{"a": 1}', {"a": 1}), (b"null", None), (b'  ["x"]  ', ["x"])],
)
def test_parse_json_reads_json_after_blank_lines(body, value):
    assert parse_json(body, call="c") == value


@pytest.mark.parametrize(
    "body", [b"", b"nope", b'{"a": NaN}', b"[Infinity]", b"-Infinity", b"\xff", b"[" * 200_000, b'{"a": 1} trailing']
)
def test_parse_json_refuses_what_is_not_strict_json(body):
    with pytest.raises(InvalidResponse):
        parse_json(body, call="c")


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"label": "positive", "score": 0.8}', ("positive", 0.8)),
        ('{"label": "NEGATIVE", "score": -1}', ("negative", -1.0)),
        ('{"label": "neutral", "score": 0, "why": "plain"}', ("neutral", 0.0)),
        ('\n{"label": "neutral", "score": 1}', ("neutral", 1.0)),
    ],
)
def test_valid_model_answers(content, expected):
    assert deepseek.sentiment_of_content(content) == expected


@pytest.mark.parametrize(
    "content",
    [
        '{"label": "mixed", "score": 0}',
        '{"label": "positive"}',
        '{"score": 0.5}',
        '{"label": "positive", "score": 1.0000001}',
        '{"label": "positive", "score": NaN}',
        '{"label": "positive", "score": 1e999}',
        '{"label": "positive", "score": ' + "9" * 5000 + "}",
        '{"label": "positive", "score": null}',
        '{"label": "positive", "score": false}',
        '{"label": 1, "score": 0.5}',
        '"positive"',
        '```json\n{"label": "positive", "score": 0.5}\n```',
    ],
)
def test_invalid_model_answers(content):
    with pytest.raises(InvalidResponse):
        deepseek.sentiment_of_content(content)


@pytest.mark.parametrize(
    "completion, error",
    [
        ({"choices": [{"message": {"content": ""}, "finish_reason": "stop"}]}, InvalidResponse),
        ({"choices": [{"message": {"content": None}, "finish_reason": "stop"}]}, InvalidResponse),
        ({"choices": [{"message": {"content": '{"label"'}, "finish_reason": "length"}]}, InvalidResponse),
        (
            {"choices": [{"message": {"content": "{}"}, "finish_reason": "insufficient_system_resource"}]},
            InvalidResponse,
        ),
        ({"choices": [{"message": {"content": ""}, "finish_reason": "content_filter"}]}, DeepSeekRejected),
        ({"choices": []}, InvalidResponse),
        ({"choices": "x"}, InvalidResponse),
        ({}, InvalidResponse),
        ([], InvalidResponse),
    ],
)
def test_completions_that_are_failed_calls(completion, error):
    with pytest.raises(error):
        deepseek.sentiment_of_completion(completion)
