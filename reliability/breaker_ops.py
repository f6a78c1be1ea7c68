"""What the operator doors (admin, ops API, command, /health) share on top of the breaker core.

One table of operator actions, so the admin, the API and the command offer the same
verbs with the same permissions, plus the reads that must not fail when a store is down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import RedisError

from reliability.breaker.models import BreakerState, CircuitBreaker
from reliability.breaker.persistence import ensure_row
from reliability.breaker.selectors import BreakerSnapshot, breaker_names, breaker_snapshot
from reliability.breaker.services import (
    NORMALIZABLE_WORDS,
    breaker_disable,
    breaker_force_open,
    breaker_metrics_only,
    breaker_normalize,
    breaker_normalize_refusal,
    breaker_reset,
)
from reliability.breaker.state import Transition

logger = structlog.get_logger(__name__)


# Each state's colour wherever a person sees it: the admin's badges, the dashboard's table and timeline.
STATE_COLOURS = {
    BreakerState.CLOSED: "#2e7d32",
    BreakerState.OPEN: "#c62828",
    BreakerState.HALF_OPEN: "#ef6c00",
    BreakerState.FORCED_OPEN: "#6a1b1a",
    BreakerState.DISABLED: "#616161",
    BreakerState.METRICS_ONLY: "#1565c0",
}


@dataclass(frozen=True)
class BreakerAction:
    """One operator verb: its slug (URL, command), the service, and the model permission it needs."""

    slug: str
    label: str
    past: str
    effect: str
    permission: str  # codename in the ``reliability`` app
    target: BreakerState
    service: Callable[..., Transition]
    # For a verb that applies to some states only: why a breaker in this state (None when
    # unreadable) is skipped, or None. The service refuses by the same rule.
    refusal: Callable[..., str | None] | None = None

    @property
    def perm(self) -> str:
        return f"reliability.{self.permission}"


BREAKER_ACTIONS: dict[str, BreakerAction] = {
    action.slug: action
    for action in (
        BreakerAction(
            slug="reset",
            label="Reset",
            past="reset",
            effect="closed with an empty window: every process admits calls again within 2 s",
            permission="reset_circuitbreaker",
            target=BreakerState.CLOSED,
            service=breaker_reset,
        ),
        BreakerAction(
            slug="force-open",
            label="Force open",
            past="forced open",
            effect="forced open: every call is rejected until an operator changes it again",
            permission="force_open_circuitbreaker",
            target=BreakerState.FORCED_OPEN,
            service=breaker_force_open,
        ),
        BreakerAction(
            slug="disable",
            label="Disable",
            past="disabled",
            effect="disabled: every call is admitted and nothing is counted or opened",
            permission="disable_circuitbreaker",
            target=BreakerState.DISABLED,
            service=breaker_disable,
        ),
        # Metrics only admits every call like "disable" does, so it needs the same permission.
        BreakerAction(
            slug="metrics-only",
            label="Metrics only",
            past="switched to metrics only",
            effect="metrics only: every call is admitted and counted, but the breaker never opens",
            permission="disable_circuitbreaker",
            target=BreakerState.METRICS_ONLY,
            service=breaker_metrics_only,
        ),
        BreakerAction(
            slug="normal",
            label="Back to normal",
            past="returned to normal",
            effect=f"back to normal operation (closed); breakers not {NORMALIZABLE_WORDS} are skipped",
            permission="normalize_circuitbreaker",
            target=BreakerState.CLOSED,
            service=breaker_normalize,
            refusal=breaker_normalize_refusal,
        ),
    )
}


def breaker_action_run(*, slug: str, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Run the operator action ``slug`` on breaker ``name`` (raises what the service raises)."""
    return BREAKER_ACTIONS[slug].service(name=name, actor=actor, channel=channel, reason=reason)


def breaker_rows_ensure() -> None:
    """Give every configured breaker a row, so the admin lists breakers that never transitioned."""
    configured = set(getattr(settings, "CIRCUIT_BREAKER_CONFIGS", {}))
    existing = set(CircuitBreaker.objects.filter(name__in=configured).values_list("name", flat=True))
    for name in sorted(configured - existing):
        ensure_row(name)


def breaker_snapshot_or_none(*, name: str) -> BreakerSnapshot | None:
    """The live snapshot, or None when its store cannot be read (pages must still render)."""
    try:
        return breaker_snapshot(name=name)
    except (RedisError, DatabaseError) as exc:
        logger.warning("circuit_breaker_snapshot_unavailable", name=name, error=exc.__class__.__name__)
        return None


def breaker_live_list() -> list[tuple[str, BreakerSnapshot | None]]:
    """Every known breaker with its live snapshot, None where its store cannot be read."""
    return [(name, breaker_snapshot_or_none(name=name)) for name in breaker_names()]
