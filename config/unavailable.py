"""A lost Redis or database answers 503 with a message, never a 500 and a traceback.

Views and admin actions that need the shared store cannot work while it is down; the
caller (an operator, a scraper, Green API) is told so and when to try again.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.responses import error_response

logger = structlog.get_logger(__name__)

UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
)
RETRY_AFTER_SECONDS = 5


def dependency_name(error: BaseException) -> str:
    return "Redis" if isinstance(error, RedisError) else "the database"


class DependencyUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, UNAVAILABLE_ERRORS):
            return None
        dependency = dependency_name(exception)
        logger.warning("dependency_unavailable", dependency=dependency, error_class=type(exception).__name__)
        message = f"{dependency} is unavailable right now; try again in a few seconds"
        response = error_response(request, status=503, message=message)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
