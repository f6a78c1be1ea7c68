"""The seed's decorators: ``@retry(...)`` for any callable, ``@retry_http_requests(...)`` for
functions that make a requests call. Both work on plain and coroutine functions."""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from reliability.retry.config import DEFAULT_RETRY_ON, Jitter, RetryConfig, RetryOn, Strategy
from reliability.retry.handler import RetryHandler
from reliability.retry.http import http_error_predicate, http_result_predicate, retryable_statuses


def _wrap(fn: Callable[..., Any], handler: RetryHandler) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            return await handler.execute_async(fn, *args, **kwargs)

        return run_async

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return handler.execute(fn, *args, **kwargs)

    return run


def retry(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    max_retries: int | None = None,
    base_delay: float | None = None,
    max_delay: float | None = None,
    strategy: Strategy = "exponential",
    jitter: Jitter = "full",
    deadline: float | None = None,
    retry_on: RetryOn = DEFAULT_RETRY_ON,
    service: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Any:
    """Retry the decorated function as ``RetryConfig`` describes; usable bare (``@retry``).

    The config is built when the function is decorated, so bad arguments fail at import.
    ``sleep``, ``async_sleep``, ``clock`` and ``uniform`` exist for tests.
    """
    config = RetryConfig(
        max_retries=max_retries,
        base_delay=base_delay,
        max_delay=max_delay,
        strategy=strategy,
        jitter=jitter,
        deadline=deadline,
        retry_on=retry_on,
        service=service,
    )
    handler = RetryHandler(config, sleep=sleep, async_sleep=async_sleep, clock=clock, uniform=uniform)
    if fn is not None:
        return _wrap(fn, handler)
    return functools.partial(_wrap, handler=handler)


def retry_http_requests(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    max_retries: int | None = None,
    base_delay: float | None = None,
    max_delay: float | None = None,
    strategy: Strategy = "exponential",
    jitter: Jitter = "full",
    deadline: float | None = None,
    retry_on_500: bool = False,
    service: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    uniform: Callable[[float, float], float] = random.uniform,
) -> Any:
    """Retry a function that makes an HTTP call with requests.

    Retried: requests' ``ConnectionError`` and ``Timeout`` (and our ``TransientError``),
    and 429/502/503/504 (plus 500 with ``retry_on_500``), whether the function returns the
    ``Response`` or raises ``HTTPError`` from ``raise_for_status()``. Any other 4xx goes back
    to the caller at once. ``Retry-After`` sets the wait, capped by ``max_delay``; a wait
    that would pass the ``deadline`` ends the loop instead. When retries run out the
    caller gets what the last attempt gave: its response, or its exception.
    A retried POST is sent again: use it for calls the remote side treats idempotently.
    """
    statuses = retryable_statuses(retry_on_500=retry_on_500)
    config = RetryConfig(
        max_retries=max_retries,
        base_delay=base_delay,
        max_delay=max_delay,
        strategy=strategy,
        jitter=jitter,
        deadline=deadline,
        retry_on=http_error_predicate(statuses),
        retry_on_result=http_result_predicate(statuses),
        service=service,
    )
    handler = RetryHandler(
        config, sleep=sleep, async_sleep=async_sleep, clock=clock, wall_clock=wall_clock, uniform=uniform
    )
    if fn is not None:
        return _wrap(fn, handler)
    return functools.partial(_wrap, handler=handler)
