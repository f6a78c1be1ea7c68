"""Which HTTP outcomes deserve a retry, and how long the server asked us to wait.

Connection errors, timeouts, 429 and 502/503/504 (500 only when asked) are worth another
try; any other 4xx is our own request's fault and retrying it cannot help. A 429 or 503
may carry ``Retry-After`` as seconds or as an HTTP date; ``RateLimited.retry_after`` is
the same request from a client that already translated the response.
"""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from reliability.errors import TRANSIENT_ERRORS, RateLimited

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


def retryable_statuses(*, retry_on_500: bool) -> frozenset[int]:
    return RETRYABLE_STATUSES | {500} if retry_on_500 else RETRYABLE_STATUSES


def http_error_predicate(statuses: frozenset[int]):
    """A ``retry_on`` predicate: network trouble, or an ``HTTPError`` whose status is in ``statuses``."""

    def is_retryable(error: BaseException) -> bool:
        if isinstance(error, requests.HTTPError):
            return error.response is not None and error.response.status_code in statuses
        return isinstance(error, TRANSIENT_ERRORS)

    return is_retryable


def http_result_predicate(statuses: frozenset[int]):
    """A ``retry_on_result`` predicate: a returned ``Response`` whose status is in ``statuses``."""

    def is_retryable(result: Any) -> bool:
        return isinstance(result, requests.Response) and result.status_code in statuses

    return is_retryable


def parse_retry_after(value: str, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or HTTP date), or None
    when it cannot be read; ``now`` is the wall clock as a Unix timestamp."""
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - now
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def retry_after_of(outcome: Any, *, now: float) -> float | None:
    """The wait the remote side asked for, from a raised error or a returned response."""
    if isinstance(outcome, RateLimited) and outcome.retry_after is not None:
        return max(0.0, float(outcome.retry_after))
    response = outcome.response if isinstance(outcome, requests.RequestException) else outcome
    if isinstance(response, requests.Response):
        header = response.headers.get("Retry-After")
        if header:
            return parse_retry_after(header, now=now)
    return None
