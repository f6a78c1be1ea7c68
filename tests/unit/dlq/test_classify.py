from __future__ import annotations

import email.utils
import time

import pytest
import requests
from django.core.exceptions import ValidationError

from config.unavailable import UNAVAILABLE_ERRORS
from reliability.dlq.classify import classify_failure, failure_fingerprint, normalise_message
from reliability.dlq.models import FailureKind
from reliability.errors import NETWORK_ERRORS, CircuitOpenError, PermanentError, RateLimited, TransientError


def http_error(status: int, headers: dict[str, str] | None = None) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return requests.HTTPError(f"{status} error", response=response)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (TransientError("flaky"), FailureKind.TRANSIENT),
        (ConnectionRefusedError("refused"), FailureKind.TRANSIENT),
        (TimeoutError("slow"), FailureKind.TRANSIENT),
        (requests.ConnectionError("reset"), FailureKind.TRANSIENT),
        (requests.Timeout("read timed out"), FailureKind.TRANSIENT),
        (http_error(502), FailureKind.TRANSIENT),
        (http_error(408), FailureKind.TRANSIENT),
        (http_error(400), FailureKind.PERMANENT),
        (http_error(404), FailureKind.PERMANENT),
        (PermanentError("bad phone number"), FailureKind.PERMANENT),
        (ValueError("not a number"), FailureKind.PERMANENT),
        (ValidationError("required"), FailureKind.PERMANENT),
        (RuntimeError("who knows"), FailureKind.UNKNOWN),
        (KeyError("chat_id"), FailureKind.UNKNOWN),
    ],
)
def test_failures_are_classified_by_what_they_say_about_the_remote_side(error, kind):
    assert classify_failure(error).kind == kind


def test_breaker_open_remembers_the_breaker_and_its_wait():
    failure = classify_failure(CircuitOpenError("green_api", 42.0))
    assert (failure.kind, failure.breaker_name, failure.retry_after) == (FailureKind.BREAKER_OPEN, "green_api", 42.0)


@pytest.mark.parametrize("error_class", [*NETWORK_ERRORS, *UNAVAILABLE_ERRORS])
def test_every_network_error_and_a_lost_database_or_redis_is_transient(error_class):
    assert classify_failure(error_class("gone")).kind == FailureKind.TRANSIENT


def test_rate_limited_keeps_retry_after_from_the_error_or_the_http_header_in_seconds_or_as_a_date():
    assert classify_failure(RateLimited(retry_after=7.5)).retry_after == 7.5
    failure = classify_failure(http_error(429, {"Retry-After": "12"}))
    assert (failure.kind, failure.retry_after, failure.http_status) == (FailureKind.RATE_LIMITED, 12.0, 429)
    in_two_minutes = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 100 < classify_failure(http_error(429, {"Retry-After": in_two_minutes})).retry_after <= 120
    assert classify_failure(http_error(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})).retry_after == 0.0
    assert classify_failure(http_error(429, {"Retry-After": "soon"})).retry_after is None


def test_error_class_names_the_module_except_for_builtins():
    assert classify_failure(ValueError("x")).error_class == "ValueError"
    assert classify_failure(TransientError("x")).error_class == "reliability.errors.TransientError"


def test_classified_message_is_redacted():
    url = (
        "https://api.green-api.com/waInstance1101000001/sendMessage/d75b3a66374942c5b3c019c698abc2067e151558acbd412345"
    )
    failure = classify_failure(TransientError(f"500 Server Error for url: {url}"))
    assert "d75b3a66374942c5" not in failure.message
    assert "/waInstance1101000001/sendMessage/[REDACTED]" in failure.message


def test_fingerprint_groups_the_same_failure_with_different_ids_and_numbers():
    a = failure_fingerprint(
        message_type="whatsapp_message",
        error_class="TransientError",
        message="chat 79001234567@c.us timed out after 30.5 s (request 3f2c1a9e-8b7d-4c6e-9f00-123456789abc)",
    )
    b = failure_fingerprint(
        message_type="whatsapp_message",
        error_class="TransientError",
        message="chat 79007654321@c.us timed out after 12 s (request 0a1b2c3d-0000-4c6e-9f00-abcdefabcdef)",
    )
    assert a == b
    assert len(a) == 64


def test_fingerprint_separates_types_classes_and_different_messages():
    base = {"message_type": "whatsapp_message", "error_class": "TransientError", "message": "timed out"}
    fingerprint = failure_fingerprint(**base)
    assert fingerprint != failure_fingerprint(**{**base, "message_type": "sentiment_analysis"})
    assert fingerprint != failure_fingerprint(**{**base, "error_class": "PermanentError"})
    assert fingerprint != failure_fingerprint(**{**base, "message": "connection refused"})


def test_normalise_message_replaces_hex_ids_but_keeps_words():
    assert normalise_message("message BAE5F4886F8A0C1D failed") == "message <hex> failed"
    assert normalise_message("deadbeef cafe") == "deadbeef cafe"
