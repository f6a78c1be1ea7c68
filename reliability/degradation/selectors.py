"""Reads for ``/health/degradation``, the ops API, the command, the admin and the metrics.

They read the shared store itself (not this process's one-second copy), so each door shows
what every process obeys; an override past its expiry is shown as ended even before the
monitor records it.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, TypedDict

from django.db.models import Count

from reliability.degradation.gates import features_allowed
from reliability.degradation.models import DegradationEvent
from reliability.degradation.state import LevelState, level_name, to_datetime
from reliability.degradation.store import state_read_shared, view


class DegradationStatus(TypedDict):
    level: str
    level_value: int
    source: str
    reason: str
    since: dt.datetime | None
    set_by: str
    expires_at: dt.datetime | None
    auto_level: str
    auto_reason: str
    step_down_level: str | None
    step_down_since: dt.datetime | None
    conditions: dict[str, dict[str, Any]]
    evaluated_at: dt.datetime | None
    read_only: bool
    stale: bool  # neither Redis nor the database answered: this is the last state known here
    features: dict[str, bool]


def degradation_state_now() -> tuple[LevelState, bool]:
    """The shared state as of now, and whether it is stale (read from this process's copy)."""
    state, answered = state_read_shared()
    if state is None:
        state = view.state
    return state.effective(time.time()), not answered


def degradation_status(*, state: LevelState | None = None) -> DegradationStatus:
    """The status every door shows: of the shared state now, or of ``state`` (what a
    service just wrote, so its door answers with it)."""
    stale = False
    if state is None:
        state, stale = degradation_state_now()
    else:
        state = state.effective(time.time())
    return DegradationStatus(
        level=level_name(state.level),
        level_value=int(state.level),
        source=state.source,
        reason=state.reason,
        since=to_datetime(state.since),
        set_by=state.set_by,
        expires_at=to_datetime(state.expires_at),
        auto_level=level_name(state.auto_level),
        auto_reason=state.auto_reason,
        step_down_level=level_name(state.step_down_level) if state.step_down_level is not None else None,
        step_down_since=to_datetime(state.step_down_since),
        conditions=state.conditions,
        evaluated_at=to_datetime(state.evaluated_at),
        read_only=state.read_only,
        stale=stale,
        features=features_allowed(state.level),
    )


def degradation_events_recent(*, limit: int = 20) -> list[DegradationEvent]:
    return list(DegradationEvent.objects.select_related("actor")[:limit])


def degradation_event_counts() -> list[dict[str, Any]]:
    """History rows by level left, level entered (names) and source: ``{"from", "to", "source", "count"}``."""
    rows = DegradationEvent.objects.values("from_level", "to_level", "source").annotate(count=Count("id")).order_by()
    return [
        {
            "from": level_name(row["from_level"]),
            "to": level_name(row["to_level"]),
            "source": row["source"],
            "count": row["count"],
        }
        for row in rows
    ]
