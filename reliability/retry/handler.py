"""The retry loop: tenacity underneath, with our waits, stops, budget, metrics and logs.

tenacity's defaults retry forever without waiting; every loop here is bounded by
``max_retries``, by an optional ``deadline`` and by the service's retry budget. An open
breaker (``CircuitOpenError``) ends the loop at once: retrying would only wait for a
rejection the breaker already gave. The sleep, the clocks and the jitter source are
injectable so tests run the real loop without sleeping.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import requests
import structlog
import tenacity

from reliability.redaction import redact_text
from reliability.retry.budget import RetryBudget, get_retry_budget
from reliability.retry.config import RetryConfig
from reliability.retry.http import retry_after_of
from reliability.retry.metrics import RETRY_ATTEMPTS, RETRY_DELAY, retry_series_declare

logger = structlog.get_logger(__name__)

T = TypeVar("T")
DEFAULT_SERVICE_LABEL = "default"


class RetryHandler:
    """Runs a callable under a ``RetryConfig``; one handler may serve many calls and threads."""

    def __init__(
        self,
        config: RetryConfig | None = None,
        *,
        budget: RetryBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.config = config if config is not None else RetryConfig()
        if budget is None and self.config.service:
            budget = get_retry_budget(self.config.service)
        if self.config.service:
            retry_series_declare(self.config.service)
        self.budget = budget
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._uniform = uniform

    def execute(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``, retried as configured; the last error is re-raised as is."""
        retrying = tenacity.Retrying(sleep=self._sleep, **_Loop(self).tenacity_options())
        return retrying(fn, *args, **kwargs)

    async def execute_async(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Awaits ``fn(*args, **kwargs)`` (a coroutine function or a plain one), retried as configured."""
        retrying = tenacity.AsyncRetrying(sleep=self._async_sleep, **_Loop(self).tenacity_options())
        return await retrying(fn, *args, **kwargs)


def _describe(outcome: tenacity.Future) -> str:
    if outcome.failed:
        error = outcome.exception()
        text = f"{type(error).__name__}: {error}"
    else:
        result = outcome.result()
        if isinstance(result, requests.Response):
            text = f"HTTP {result.status_code} from {result.url}"
        else:
            text = f"unwanted result {result!r}"
    return redact_text(text)[:500]


class _Loop:
    """The state of one ``execute`` call, read by the callables tenacity invokes in turn:
    ``retry`` (is this outcome worth a retry?), ``wait`` (how long?), ``stop`` (may we?),
    ``before_sleep`` (account for the retry about to happen)."""

    def __init__(self, handler: RetryHandler) -> None:
        self.handler = handler
        self.config = handler.config
        self.service = self.config.service or DEFAULT_SERVICE_LABEL
        self.started = handler._clock()
        self.budget_allows = True
        self.delay = 0.0

    def tenacity_options(self) -> dict[str, Any]:
        return {
            "retry": self.should_retry,
            "wait": self.wait,
            "stop": self.stop,
            "before_sleep": self.before_sleep,
            # Give up with what the last attempt produced: its exception re-raised as is,
            # or its returned value (an HTTP response the caller inspects).
            "retry_error_callback": lambda state: state.outcome.result(),
        }

    def should_retry(self, state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        budget = self.handler.budget
        if outcome.failed:
            if not self.config.is_retryable_error(outcome.exception()):
                return False
        elif self.config.retry_on_result is None or not self.config.retry_on_result(outcome.result()):
            if budget is not None:
                budget.record_success()
            if state.attempt_number > 1:
                RETRY_ATTEMPTS.labels(service=self.service, outcome="succeeded_after_retry").inc()
            return False
        self.budget_allows = budget.record_failure() if budget is not None else True
        return True

    def wait(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        asked = retry_after_of(
            outcome.exception() if outcome.failed else outcome.result(), now=self.handler._wall_clock()
        )
        if asked is not None:
            self.delay = min(asked, float(self.config.max_delay))
        else:
            backoff = self.config.backoff(state.attempt_number)
            self.delay = self.config.jittered(backoff, self.handler._uniform)
        return self.delay

    def stop(self, state: tenacity.RetryCallState) -> bool:
        deadline = self.config.deadline
        if state.attempt_number > self.config.max_retries:
            verdict = "gave_up"
        elif not self.budget_allows:
            verdict = "budget_exhausted"
        elif deadline is not None and self.handler._clock() - self.started + self.delay > deadline:
            verdict = "deadline_exceeded"
        else:
            return False
        RETRY_ATTEMPTS.labels(service=self.service, outcome=verdict).inc()
        logger.warning(
            "retry_gave_up",
            service=self.service,
            reason=verdict,
            attempts=state.attempt_number,
            error=_describe(state.outcome),
        )
        return True

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        RETRY_ATTEMPTS.labels(service=self.service, outcome="retried").inc()
        RETRY_DELAY.labels(service=self.service).observe(self.delay)
        logger.warning(
            "retry_attempt",
            service=self.service,
            attempt=state.attempt_number + 1,
            delay=round(self.delay, 3),
            error=_describe(state.outcome),
        )
