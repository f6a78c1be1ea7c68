"""Breaker configuration: the seed's ``CircuitBreakerConfig`` and how the effective one is found.

The effective config of a breaker is layered: the dataclass defaults, then
``settings.CIRCUIT_BREAKER_CONFIGS[name]`` (or a config given in code), then the non-blank
override fields an operator set on the ``CircuitBreaker`` row in the admin.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import reprlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.utils import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from reliability.errors import TRANSIENT_ERRORS, CircuitOpenError, PermanentError

# Exceptions that say the remote side is unwell. Anything not listed (a bug in our code,
# a validation error) is re-raised but not counted: a shared breaker must not open for
# every process because one process sent bad input or hit its own local fault.
DEFAULT_FAILURE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    *TRANSIENT_ERRORS,
    OperationalError,
    InterfaceError,
    RedisConnectionError,
    RedisTimeoutError,
)
DEFAULT_IGNORED_EXCEPTIONS: tuple[type[BaseException], ...] = (PermanentError, CircuitOpenError)

SCOPES = ("shared", "local")

# Fields an operator may override on the CircuitBreaker row (same names as the model).
OVERRIDE_FIELDS = (
    "failure_threshold",
    "failure_rate_threshold",
    "minimum_requests",
    "window_size",
    "recovery_timeout",
    "success_threshold",
    "half_open_max_calls",
    "timeout",
    "slow_call_threshold",
    "slow_call_rate_threshold",
    "max_recovery_timeout",
)
_INT_FIELDS_ORDERED = (
    "failure_threshold",
    "minimum_requests",
    "window_size",
    "success_threshold",
    "half_open_max_calls",
)
_INT_FIELDS = set(_INT_FIELDS_ORDERED)
SECONDS_FIELDS = ("recovery_timeout", "timeout", "slow_call_threshold", "max_recovery_timeout")
# Bounds keep the Redis ring and the stored window small whatever an operator types.
MAX_WINDOW_SIZE = 10_000
# The override columns are 32-bit integers; no threshold or time needs more than a day
# (and open_until stays finite when a reopen doubles it).
MAX_OVERRIDE_INT = 2_147_483_647
MAX_OVERRIDE_SECONDS = 86_400.0


@dataclass(frozen=True)
class CircuitBreakerConfig:
    """Thresholds of one breaker (DESIGN section 4). Times are in seconds."""

    failure_threshold: int = 5
    failure_rate_threshold: float = 0.5
    minimum_requests: int = 10
    window_size: int = 100
    recovery_timeout: float = 60.0
    success_threshold: int = 3
    half_open_max_calls: int = 3
    timeout: float = 30.0
    slow_call_threshold: float | None = None
    slow_call_rate_threshold: float = 1.0
    max_recovery_timeout: float = 600.0
    scope: str = "shared"
    failure_exceptions: tuple[type[BaseException], ...] = DEFAULT_FAILURE_EXCEPTIONS
    ignored_exceptions: tuple[type[BaseException], ...] = DEFAULT_IGNORED_EXCEPTIONS
    # Replaces the whole classification when set: True means "counts as a failure".
    is_failure: Callable[[BaseException], bool] | None = field(default=None, compare=False)
    # Called with the call's own arguments instead of raising CircuitOpenError.
    fallback: Callable[..., Any] | None = field(default=None, compare=False)

    def errors(self) -> dict[str, str]:
        """Every problem, by field name, in words an operator can act on."""
        problems: dict[str, str] = {}
        for name in (
            "failure_threshold",
            "minimum_requests",
            "window_size",
            "success_threshold",
            "half_open_max_calls",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                problems[name] = f"must be a whole number, got {value!r}"
            elif value < 1:
                problems[name] = f"must be at least 1, got {value}"
        for name in ("recovery_timeout", "timeout", "max_recovery_timeout", "slow_call_threshold"):
            value = getattr(self, name)
            if value is None and name == "slow_call_threshold":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems[name] = f"must be a number of seconds, got {value!r}"
            elif value <= 0:
                problems[name] = f"must be more than 0 seconds, got {value}"
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems[name] = f"must be a number between 0 and 1, got {value!r}"
            elif not 0 < value <= 1:
                problems[name] = f"must be a rate above 0 and at most 1 (0.5 means 50 %), got {value}"
        if "window_size" not in problems and self.window_size > MAX_WINDOW_SIZE:
            problems["window_size"] = f"must be at most {MAX_WINDOW_SIZE}, got {self.window_size}"
        if not problems.keys() & {"minimum_requests", "window_size"} and self.minimum_requests > self.window_size:
            problems["minimum_requests"] = (
                f"must not exceed window_size ({self.window_size}), got {self.minimum_requests}: "
                "the window could never hold that many calls"
            )
        if not problems.keys() & {"recovery_timeout", "max_recovery_timeout"}:
            if self.max_recovery_timeout < self.recovery_timeout:
                problems["max_recovery_timeout"] = (
                    f"must be at least recovery_timeout ({self.recovery_timeout}), got {self.max_recovery_timeout}"
                )
        if (
            self.slow_call_threshold is not None
            and not problems.keys() & {"slow_call_threshold", "timeout"}
            and self.slow_call_threshold > self.timeout
        ):
            problems["slow_call_threshold"] = (
                f"must not exceed timeout ({self.timeout}), got {self.slow_call_threshold}: "
                "slower calls already count as failures"
            )
        if self.scope not in SCOPES:
            problems["scope"] = f"must be one of {', '.join(SCOPES)}, got {self.scope!r}"
        return problems

    def validate(self) -> CircuitBreakerConfig:
        """Return self, or raise ``ValidationError`` keyed by field (admin forms show it per field)."""
        problems = self.errors()
        if problems:
            raise ValidationError({name: [message] for name, message in problems.items()})
        return self

    def with_changes(self, changes: dict[str, Any]) -> CircuitBreakerConfig:
        """A copy with ``changes`` applied; unknown field names are a ValidationError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValidationError({name: ["is not a circuit breaker setting"] for name in unknown})
        return dataclasses.replace(self, **changes)

    def overrides(self) -> dict[str, float | int | None]:
        """The operator-editable thresholds, by model field name."""
        return {name: getattr(self, name) for name in OVERRIDE_FIELDS}


def coerce_override(name: str, value: Any) -> Any:
    """Turn a value from a form, JSON or the command line into the field's type, or raise.

    Refuses what the ``CircuitBreaker`` row cannot hold or the breaker cannot compute
    with: NaN and Infinity, whole numbers beyond the 32-bit integer columns, times
    longer than ``MAX_OVERRIDE_SECONDS``. Whether a value makes sense (at least 1, a rate
    up to 1) is ``CircuitBreakerConfig.errors``'s call.
    """
    if value is None or value == "":
        return None
    shown = reprlib.repr(value)
    number = _finite_number(name, value, shown)
    if name in _INT_FIELDS:
        if number != int(number):
            raise ValidationError({name: [f"must be a whole number, got {shown}"]})
        if abs(number) > MAX_OVERRIDE_INT:
            raise ValidationError({name: [f"must be between 1 and {MAX_OVERRIDE_INT}, got {shown}"]})
        return int(number)
    try:
        seconds_or_rate = float(number)
    except OverflowError:
        raise ValidationError({name: [f"must be a finite number, got {shown}"]}) from None
    if name in SECONDS_FIELDS and seconds_or_rate > MAX_OVERRIDE_SECONDS:
        raise ValidationError({name: [f"must be at most {MAX_OVERRIDE_SECONDS:.0f} seconds, got {shown}"]})
    return seconds_or_rate


def _finite_number(name: str, value: Any, shown: str) -> int | float:
    """``value`` as an exact int or a finite float; text is parsed as either."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError({name: [f"must be a number, got {shown}"]})
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    try:
        number = float(value)
    except ValueError:
        raise ValidationError({name: [f"must be a number, got {shown}"]}) from None
    if not math.isfinite(number):
        raise ValidationError({name: [f"must be a finite number, got {shown}"]})
    return number


def base_config(name: str) -> CircuitBreakerConfig:
    """Dataclass defaults overlaid with ``settings.CIRCUIT_BREAKER_CONFIGS[name]``."""
    configured = getattr(settings, "CIRCUIT_BREAKER_CONFIGS", {}).get(name, {})
    return CircuitBreakerConfig().with_changes(dict(configured))


def effective_config(base: CircuitBreakerConfig, row: Any | None) -> CircuitBreakerConfig:
    """``base`` with the row's non-blank override fields on top.

    An override set that does not validate (edited straight in the database) is ignored
    as a whole rather than breaking every call through the breaker.
    """
    if row is None:
        return base
    changes = {name: getattr(row, name) for name in OVERRIDE_FIELDS if getattr(row, name) is not None}
    if not changes:
        return base
    merged = base.with_changes(changes)
    return merged if not merged.errors() else base
