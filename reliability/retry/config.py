"""What a retry loop may do: how often, how long to wait, and which failures deserve another try.

Defaults for the numbers come from ``settings.RETRY_DEFAULTS`` (per ``APP_ENV``), so a
test run retries once with millisecond waits while production backs off for seconds.
Callers name the errors worth retrying (stamina's rule): a blanket ``Exception`` would
retry our own bugs and bad requests, so it is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from django.conf import settings

from reliability.errors import TRANSIENT_ERRORS, CircuitOpenError

Strategy = Literal["exponential", "linear", "fixed", "fibonacci"]
Jitter = Literal["full", "equal", "none"]
ErrorPredicate = Callable[[BaseException], bool]
RetryOn = type[BaseException] | tuple[type[BaseException], ...] | ErrorPredicate

STRATEGIES: tuple[str, ...] = ("exponential", "linear", "fixed", "fibonacci")
JITTERS: tuple[str, ...] = ("full", "equal", "none")

# Failures that say "the other side is unwell for now": our own TransientError family
# (RateLimited included) plus the connection and timeout errors of the stdlib and requests.
DEFAULT_RETRY_ON: tuple[type[BaseException], ...] = TRANSIENT_ERRORS
_BLANKET = (BaseException, Exception)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RetryConfig:
    """How a ``RetryHandler`` retries; ``None`` numbers take ``settings.RETRY_DEFAULTS``.

    ``max_retries`` counts retries after the first attempt. ``deadline`` bounds the whole
    loop in seconds: a retry whose wait would end past it is not made. ``retry_on`` is
    exception classes or a predicate on the exception; ``retry_on_result`` a predicate on
    a returned value (an HTTP response with status 503, say). ``service`` names the
    retry budget to spend and labels the metrics.
    """

    max_retries: int | None = None
    base_delay: float | None = None
    max_delay: float | None = None
    strategy: Strategy = "exponential"
    jitter: Jitter = "full"
    deadline: float | None = None
    retry_on: RetryOn = DEFAULT_RETRY_ON
    retry_on_result: Callable[[Any], bool] | None = None
    service: str | None = None

    def __post_init__(self) -> None:
        defaults = settings.RETRY_DEFAULTS
        for name in ("max_retries", "base_delay", "max_delay"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, defaults[name])
        self._validate()

    def _validate(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be a whole number of at least 0, not {self.max_retries!r}")
        for name in ("base_delay", "max_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number of seconds of at least 0, not {value!r}")
        if self.deadline is not None and (
            isinstance(self.deadline, bool) or not isinstance(self.deadline, int | float) or self.deadline <= 0
        ):
            raise ValueError(f"deadline must be a positive number of seconds or None, not {self.deadline!r}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {self.strategy!r}")
        if self.jitter not in JITTERS:
            raise ValueError(f"jitter must be one of {', '.join(JITTERS)}, not {self.jitter!r}")
        classes = self.retry_on if isinstance(self.retry_on, tuple) else (self.retry_on,)
        if isinstance(self.retry_on, tuple) or isinstance(self.retry_on, type):
            for cls in classes:
                if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                    raise ValueError(f"retry_on must hold exception classes, not {cls!r}")
                if cls in _BLANKET:
                    raise ValueError(f"retry_on={cls.__name__} would retry every bug; name the errors worth retrying")
        elif not callable(self.retry_on):
            raise ValueError("retry_on must be exception classes or a predicate taking the exception")

    def is_retryable_error(self, error: BaseException) -> bool:
        """Whether ``error`` deserves another attempt; an open breaker never does."""
        if isinstance(error, CircuitOpenError):
            return False
        if isinstance(self.retry_on, tuple | type):
            return isinstance(error, self.retry_on)
        return bool(self.retry_on(error))

    def backoff(self, retry_number: int) -> float:
        """The wait before retry ``retry_number`` (1 for the first retry), capped, before jitter."""
        base, cap = float(self.base_delay), float(self.max_delay)
        if self.strategy == "fixed":
            return min(cap, base)
        if self.strategy == "linear":
            return min(cap, base * retry_number)
        if self.strategy == "exponential":
            # The exponent is bounded so a huge retry number cannot overflow the float.
            return min(cap, base * 2.0 ** min(retry_number - 1, 1000))
        previous, current = 0, 1  # Fibonacci: 1, 1, 2, 3, 5, 8, ...
        for _ in range(retry_number - 1):
            if base * current >= cap:
                break
            previous, current = current, previous + current
        return min(cap, base * current)

    def jittered(self, delay: float, uniform: Callable[[float, float], float]) -> float:
        """``delay`` spread out so that clients failing together do not retry together.

        Full jitter (AWS's recommendation) waits anywhere in ``[0, delay]``; equal jitter
        keeps at least half of the delay.
        """
        if self.jitter == "full":
            return uniform(0.0, delay)
        if self.jitter == "equal":
            return delay / 2 + uniform(0.0, delay / 2)
        return delay
