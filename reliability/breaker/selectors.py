"""Reads for the admin, the ops API, ``/health/circuit-breakers`` and the metrics scrape.

The state comes from the breaker's store (Redis, the row, or this process for a local
breaker), not from the row's last known state, so every door shows the live truth.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

from django.conf import settings
from django.db.models import Count, F

from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.config import OVERRIDE_FIELDS
from reliability.breaker.models import BreakerTransition, CircuitBreaker
from reliability.breaker.persistence import to_datetime


class UnknownBreaker(LookupError):
    """No breaker of that name in settings or in the table (the doors answer 404 / exit 2)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no circuit breaker named {name!r}; known: {', '.join(breaker_names()) or 'none'}")
        self.name = name


class BreakerSnapshot(TypedDict):
    name: str
    state: str
    scope: str
    store: str  # "redis", "database" or "local" (this process's own state)
    failure_rate: float
    slow_call_rate: float
    consecutive_failures: int
    calls_in_window: int
    half_open_calls: int
    open_until: dt.datetime | None
    retry_after: float | None
    config: dict[str, Any]  # the effective thresholds
    overrides: dict[str, Any]  # the row's non-blank override fields
    config_version: int
    state_changed_at: dt.datetime | None


def breaker_names() -> list[str]:
    """Known breakers: the names in ``CIRCUIT_BREAKER_CONFIGS`` plus every row."""
    configured = set(getattr(settings, "CIRCUIT_BREAKER_CONFIGS", {}))
    return sorted(configured | set(CircuitBreaker.objects.values_list("name", flat=True)))


def breaker_require(*, name: str) -> None:
    """Raise ``UnknownBreaker`` unless ``name`` is a known breaker."""
    if (
        name not in getattr(settings, "CIRCUIT_BREAKER_CONFIGS", {})
        and not CircuitBreaker.objects.filter(name=name).exists()
    ):
        raise UnknownBreaker(name)


def breaker_state(*, name: str) -> str:
    """The live state only: what the metrics scrape needs."""
    breaker = get_circuit_breaker(name)
    return breaker.snapshot().state


def breaker_snapshot(*, name: str) -> BreakerSnapshot:
    breaker_require(name=name)
    breaker = get_circuit_breaker(name)
    breaker.reload()
    live = breaker.snapshot()
    row = CircuitBreaker.objects.filter(name=name).first()
    now = breaker.clock()
    config = breaker.config
    return BreakerSnapshot(
        name=name,
        state=live.state,
        scope=config.scope,
        store=breaker.store.kind,
        failure_rate=live.failure_rate,
        slow_call_rate=live.slow_call_rate,
        consecutive_failures=live.consecutive_failures,
        calls_in_window=live.calls_in_window,
        half_open_calls=live.half_open_calls,
        open_until=to_datetime(live.open_until),
        retry_after=max(0.0, live.open_until - now) if live.open_until else None,
        config={**config.overrides(), "scope": config.scope},
        overrides={f: getattr(row, f) for f in OVERRIDE_FIELDS if row is not None and getattr(row, f) is not None},
        config_version=row.config_version if row is not None else 0,
        state_changed_at=row.state_changed_at if row is not None else None,
    )


def breaker_list() -> list[BreakerSnapshot]:
    return [breaker_snapshot(name=name) for name in breaker_names()]


class TransitionCount(TypedDict):
    name: str
    to_state: str
    reason: str
    count: int


def breaker_transition_counts() -> list[TransitionCount]:
    """Transitions in the history, by breaker, state entered and reason (the metrics scrape)."""
    return list(
        BreakerTransition.objects.values("to_state", "reason", name=F("breaker__name"))
        .annotate(count=Count("id"))
        .order_by()
    )
