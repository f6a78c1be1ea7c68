"""The one DRF exception handler, shared by every API.

Views call services and let the project's exceptions propagate; ``api_exception_handler``
turns them into answers, so every door says the same thing for the same failure and no
view carries its own copy of the try/except.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from reliability.breaker.selectors import UnknownBreaker
from reliability.breaker.services import BreakerActionRefused
from reliability.degradation.services import DegradationActionRefused
from reliability.dlq.exceptions import (
    DeadLetterNotFound,
    DeadLetterStateError,
    FingerprintAmbiguous,
    FingerprintNotFound,
)

# First match wins: BreakerActionRefused and DegradationActionRefused are ValueErrors, but
# refusals, not bad input.
ERROR_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (UnknownBreaker, status.HTTP_404_NOT_FOUND),
    (DeadLetterNotFound, status.HTTP_404_NOT_FOUND),
    (FingerprintNotFound, status.HTTP_404_NOT_FOUND),
    (BreakerActionRefused, status.HTTP_409_CONFLICT),
    (DeadLetterStateError, status.HTTP_409_CONFLICT),
    (DegradationActionRefused, status.HTTP_409_CONFLICT),
    (ValidationError, status.HTTP_400_BAD_REQUEST),
    # The services' convention for input they cannot act on ("a reason is required").
    (ValueError, status.HTTP_400_BAD_REQUEST),
)


def _error_body(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ValidationError):
        return exc.message_dict if hasattr(exc, "error_dict") else {"detail": " ".join(exc.messages)}
    body: dict[str, Any] = {"detail": str(exc)}
    if isinstance(exc, DeadLetterStateError):
        body["status"] = exc.status
    if isinstance(exc, FingerprintAmbiguous):
        body["candidates"] = [{"fingerprint": short, "count": count} for short, count in exc.candidates]
    return body


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's own handling first, then the project's errors; anything else stays a 500
    (or the 503 of ``DependencyUnavailableMiddleware`` for a lost store)."""
    response = exception_handler(exc, context)
    if response is not None:
        return response
    for error_class, code in ERROR_STATUS:
        if isinstance(exc, error_class):
            set_rollback()
            return Response(_error_body(exc), status=code)
    return None
