"""One request id per web request, carried into the Celery tasks it enqueues.

The id comes from the caller's ``X-Request-ID`` when it looks like an id (so a load
balancer's id links its logs to ours), otherwise a fresh one. It is bound to structlog's
context, returned in the response header, and copied into task headers by the signal
handlers in ``config.celery``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import structlog
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
logger = structlog.get_logger("http")
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def current_request_id() -> str | None:
    return structlog.contextvars.get_contextvars().get("request_id")


def bind_request_id(request_id: str | None) -> str:
    """Bind ``request_id`` (or a new one when missing or malformed) and return it."""
    if not request_id or not _VALID.match(request_id):
        request_id = uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = bind_request_id(request.headers.get(HEADER))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[HEADER] = request.request_id
            # The query string is left out: it may carry tokens.
            logger.info(
                "request",
                method=request.method,
                path=request.path,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
            )
            return response
        finally:
            structlog.contextvars.clear_contextvars()
