"""The small error hierarchy that clients raise and breakers, retries and the DLQ classify by.

Clients translate what they see on the wire (HTTP status, connection errors) into one of
these, so every layer above decides with ``isinstance`` instead of parsing messages.
"""

from __future__ import annotations

import requests


class ReliabilityError(Exception):
    """Base class for errors the reliability layer understands."""


class TransientError(ReliabilityError):
    """The remote side is unwell for now (timeout, connection refused, 5xx): worth retrying."""


class RateLimited(TransientError):
    """The remote side asked us to slow down (429); ``retry_after`` is in seconds when known."""

    def __init__(self, message: str = "rate limited", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ReliabilityError):
    """Retrying cannot help (validation failed, 4xx caused by our own request)."""


class CircuitOpenError(ReliabilityError):
    """A breaker rejected the call without running it; try again after ``retry_after`` seconds."""

    def __init__(self, name: str, retry_after: float | None) -> None:
        wait = f"retry after {retry_after:.1f} s" if retry_after is not None else "no automatic retry"
        super().__init__(f"circuit breaker {name!r} is open ({wait})")
        self.name = name
        self.retry_after = retry_after


# What says "the remote side is unwell right now" before any client translated it: the
# network errors of the standard library and of requests (``ChunkedEncodingError``: the
# server dropped the connection in the middle of the body). Breakers count these, retries
# retry them and the DLQ backs them off; each adds its own (database, Redis) on top.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (TransientError, *NETWORK_ERRORS)
