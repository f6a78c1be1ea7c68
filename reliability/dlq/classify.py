"""Failure classification: which recovery strategy a dead letter gets, and its fingerprint.

Clients raise the small hierarchy of ``reliability.errors``; everything else is judged
by what it says about the remote side (connection errors, timeouts, HTTP 5xx are
transient; our own bad input is permanent). What is not recognised is ``unknown`` and
gets the cautious strategy: back off and retry a bounded number of times.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from config.unavailable import UNAVAILABLE_ERRORS
from reliability.dlq.models import FailureKind
from reliability.errors import NETWORK_ERRORS, CircuitOpenError, PermanentError, RateLimited, TransientError
from reliability.redaction import redact_text
from reliability.retry.http import retry_after_of

# The network going away, or our own database or Redis (a handler that cannot store its result).
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (*NETWORK_ERRORS, *UNAVAILABLE_ERRORS)
_PERMANENT_TYPES: tuple[type[BaseException], ...] = (ValueError, ValidationError)
# 408 (request timeout) and 429 (too many requests) are the remote side's state, not our input.
_RETRYABLE_4XX = {408, 429}


@dataclass(frozen=True)
class Failure:
    """A classified error, already redacted: safe to store and log."""

    kind: FailureKind
    error_class: str
    message: str
    retry_after: float | None = None
    breaker_name: str = ""
    http_status: int | None = None


def error_class_name(error: BaseException) -> str:
    cls = type(error)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _http_status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None) if response is not None else None
    if status is None:
        status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def classify_failure(error: BaseException) -> Failure:
    """Classify ``error`` into a ``FailureKind`` with its (redacted) class and message."""
    name = error_class_name(error)
    message = redact_text(str(error))
    if isinstance(error, CircuitOpenError):
        return Failure(FailureKind.BREAKER_OPEN, name, message, error.retry_after, breaker_name=error.name)
    if isinstance(error, RateLimited):
        return Failure(FailureKind.RATE_LIMITED, name, message, error.retry_after)
    if isinstance(error, PermanentError):
        return Failure(FailureKind.PERMANENT, name, message)
    if isinstance(error, TransientError):
        return Failure(FailureKind.TRANSIENT, name, message)
    status = _http_status(error)
    if status == 429:
        retry_after = retry_after_of(error, now=time.time())
        return Failure(FailureKind.RATE_LIMITED, name, message, retry_after, http_status=status)
    if status is not None and 400 <= status < 500 and status not in _RETRYABLE_4XX:
        return Failure(FailureKind.PERMANENT, name, message, http_status=status)
    if status is not None and (status >= 500 or status in _RETRYABLE_4XX):
        return Failure(FailureKind.TRANSIENT, name, message, http_status=status)
    if isinstance(error, _TRANSIENT_TYPES):
        return Failure(FailureKind.TRANSIENT, name, message)
    if isinstance(error, _PERMANENT_TYPES):
        return Failure(FailureKind.PERMANENT, name, message)
    return Failure(FailureKind.UNKNOWN, name, message)


_NORMALISERS = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE), "<uuid>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
)


def normalise_message(message: str) -> str:
    """``message`` with ids, uuids and numbers replaced, so the same failure reads the same."""
    for pattern, placeholder in _NORMALISERS:
        message = pattern.sub(placeholder, message)
    return message.strip()


def failure_fingerprint(*, message_type: str, error_class: str, message: str) -> str:
    """A stable sha256 that groups letters failing the same way (for the admin and bulk replay)."""
    text = f"{message_type}\n{error_class}\n{normalise_message(redact_text(message))}"
    return hashlib.sha256(text.encode()).hexdigest()
