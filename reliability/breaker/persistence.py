"""What the breaker writes to and reads from PostgreSQL (or SQLite, embedded).

Only transitions and operator changes touch the database; an ordinary call never does.
Write failures are logged, not raised: the breaker that guards the database must keep
working while the database is down.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import structlog
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F

from reliability.breaker.models import BreakerTransition, CircuitBreaker, TransitionReason
from reliability.breaker.state import Transition

logger = structlog.get_logger(__name__)


def to_datetime(timestamp: float | None) -> dt.datetime | None:
    if not timestamp:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)


def to_timestamp(value: dt.datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def version_cache_key(name: str) -> str:
    return f"reliability:breaker:{name}:version"


def load_row(name: str) -> CircuitBreaker | None:
    return CircuitBreaker.objects.filter(name=name).first()


def ensure_row(name: str) -> CircuitBreaker:
    try:
        row, _ = CircuitBreaker.objects.get_or_create(name=name)
    except IntegrityError:  # created by another process between the get and the create
        row = CircuitBreaker.objects.get(name=name)
    return row


def bump_version(name: str) -> int:
    """Increase the row's ``config_version`` (creating the row if needed) and return it."""
    with transaction.atomic():
        ensure_row(name)
        CircuitBreaker.objects.filter(name=name).update(config_version=F("config_version") + 1)
        return CircuitBreaker.objects.values_list("config_version", flat=True).get(name=name)


def latest_operator_transition(row: CircuitBreaker) -> BreakerTransition | None:
    return row.transitions.filter(reason=TransitionReason.OPERATOR).order_by("-id").first()


def save_transitions(
    row: CircuitBreaker, transitions: Iterable[Transition], *, actor: Any = None, note: str = ""
) -> None:
    """Append history rows and update the row's last known state (inside the caller's transaction)."""
    items = list(transitions)
    if not items:
        return
    user = actor if getattr(actor, "is_authenticated", False) else None
    BreakerTransition.objects.bulk_create(
        BreakerTransition(
            breaker=row,
            from_state=item.from_state,
            to_state=item.to_state,
            reason=item.reason,
            failure_rate=item.failure_rate,
            actor=user,
            note=note,
        )
        for item in items
    )
    last = items[-1]
    row.state = last.to_state
    row.state_changed_at = dt.datetime.now(tz=dt.UTC)
    row.open_until = to_datetime(last.open_until)
    row.consecutive_failures = last.consecutive_failures
    row.failure_rate = last.failure_rate


def persist_transitions(name: str, transitions: Iterable[Transition], *, actor: Any = None, note: str = "") -> bool:
    """Store transitions made outside the database (local and Redis stores). False if the write failed."""
    items = list(transitions)
    if not items:
        return True
    try:
        with transaction.atomic():
            row = ensure_row(name)
            save_transitions(row, items, actor=actor, note=note)
            row.save(
                update_fields=[
                    "state",
                    "state_changed_at",
                    "open_until",
                    "consecutive_failures",
                    "failure_rate",
                    "updated_at",
                ]
            )
    except DatabaseError as exc:
        logger.error("circuit_breaker_history_write_failed", name=name, error=exc.__class__.__name__)
        return False
    return True


def publish_version(name: str, version: int) -> None:
    """Tell processes with per-process (local) breakers that the row changed."""
    try:
        cache.set(version_cache_key(name), version, None)
    except Exception as exc:  # noqa: BLE001 - any cache backend error; processes still poll the row on restart
        logger.warning("circuit_breaker_version_publish_failed", name=name, error=exc.__class__.__name__)


def published_version(name: str) -> int | None:
    try:
        return cache.get(version_cache_key(name))
    except Exception as exc:  # noqa: BLE001 - a lost cache must not fail the guarded call
        logger.warning("circuit_breaker_version_read_failed", name=name, error=exc.__class__.__name__)
        return None
