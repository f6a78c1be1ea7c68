"""A circuit breaker in front of the public API's path prefixes (the seed's middleware).

Each prefix in ``settings.CIRCUIT_BREAKER_PROTECTED_PATHS`` has its own shared breaker.
A 5xx response counts as a failure (a view's exception reaches us as Django's 500
response, so it counts too), anything else as a success. While the breaker is open the
request gets a 503 with ``Retry-After`` and the view does not run, so a struggling
backend gets room to recover. Other paths pay one ``str.startswith`` and nothing else.

This module is imported by the settings (``add_circuit_breaker_middleware``), so it
must not import models at import time.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from reliability.errors import CircuitOpenError, TransientError

MIDDLEWARE_PATH = "reliability.middleware.CircuitBreakerMiddleware"
REQUEST_ID_MIDDLEWARE = "config.request_id.RequestIdMiddleware"


def add_circuit_breaker_middleware(middleware: list[str]) -> list[str]:
    """``middleware`` with the breaker middleware right after the request-id middleware.

    Early, so a rejected request costs no session or authentication work and its 503
    still carries the request id and the request log line.
    """
    result = list(middleware)
    if MIDDLEWARE_PATH in result:
        return result
    position = result.index(REQUEST_ID_MIDDLEWARE) + 1 if REQUEST_ID_MIDDLEWARE in result else 0
    result.insert(position, MIDDLEWARE_PATH)
    return result


class ServerErrorResponse(TransientError):
    """Carries a 5xx response out through ``cb.call`` so the breaker counts it as a failure."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(f"view answered {response.status_code}")
        self.response = response


class CircuitBreakerMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        # Imported here: the settings import this module before the app registry is ready.
        from reliability.breaker.breaker import get_circuit_breaker

        self.get_response = get_response
        self.get_circuit_breaker = get_circuit_breaker
        # Longest prefix first, so a more specific prefix wins.
        self.routes = sorted(
            settings.CIRCUIT_BREAKER_PROTECTED_PATHS.items(), key=lambda item: len(item[0]), reverse=True
        )
        self.prefixes = tuple(prefix for prefix, _ in self.routes)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if not path.startswith(self.prefixes):
            return self.get_response(request)
        name = next(name for prefix, name in self.routes if path.startswith(prefix))
        breaker = self.get_circuit_breaker(name)
        try:
            return breaker.call(self._run, request)
        except ServerErrorResponse as failed:
            return failed.response
        except CircuitOpenError as exc:
            wait = exc.retry_after if exc.retry_after is not None else breaker.config.recovery_timeout
            return self._rejected(name, wait)

    def _run(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code >= 500:
            raise ServerErrorResponse(response)
        return response

    @staticmethod
    def _rejected(name: str, wait: float) -> JsonResponse:
        seconds = max(1, math.ceil(wait))
        response = JsonResponse(
            {
                "detail": "temporarily unavailable: too many recent failures, try again later",
                "circuit_breaker": name,
                "retry_after": seconds,
            },
            status=503,
        )
        response["Retry-After"] = str(seconds)
        return response
