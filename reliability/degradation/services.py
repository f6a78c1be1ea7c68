"""Changes of the degradation level: one implementation for the monitor (beat task,
``start_monitoring``, on demand) and for the operator doors (admin, ops API, command).

Every change goes the same way: the state row is locked, the new state computed from it,
the row saved with an event row (and, for an operator, an audit record) in the same
transaction; after the commit the state is published to Redis, counted, logged and
announced with ``degradation_level_changed``. With the database down, the monitor still
publishes through Redis and keeps the change in the published state until the history
can take it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import redis
import structlog
from django.conf import settings
from django.db import DatabaseError, transaction

from reliability.audit import actor_label, audit_record
from reliability.degradation import store
from reliability.degradation.conditions import conditions_read
from reliability.degradation.config import degradation_rules
from reliability.degradation.levels import DegradationLevel, duration_check, level_parse
from reliability.degradation.models import DegradationEvent, DegradationState
from reliability.degradation.signals import degradation_level_changed
from reliability.degradation.state import (
    AUTO,
    OPERATOR,
    LevelState,
    auto_step,
    conditions_seen,
    level_name,
    rules_level,
    to_datetime,
)
from reliability.dlq.locks import job_lock

logger = structlog.get_logger(__name__)

TARGET_TYPE = "degradation"
TARGET_ID = "system"
REASON_MAX_LENGTH = 500
# Changes kept in Redis while the database is down; older ones are only in the logs.
UNRECORDED_MAX = 50
MONITOR_LOCK = "degradation_monitor"
MONITOR_LOCK_SECONDS = 60


class DegradationActionRefused(ValueError):
    """The operator action makes no sense now, e.g. clearing when no override is in force (409 / exit 1)."""


@dataclass(frozen=True)
class Change:
    from_level: int
    to_level: int
    source: str
    reason: str
    at: float
    actor_label: str = AUTO
    expires_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "from_level": self.from_level,
            "to_level": self.to_level,
            "source": self.source,
            "reason": self.reason,
            "at": self.at,
            "actor_label": self.actor_label,
            "expires_at": self.expires_at,
        }


Advance = Callable[[LevelState], tuple[LevelState, Change | None]]


def reason_check(reason: Any) -> str:
    """The operator's reason, trimmed; refuses a missing, blank or overlong one."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError("a reason is required: say why (it is kept in the history and the audit trail)")
    reason = reason.strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise ValueError(f"the reason is longer than {REASON_MAX_LENGTH} characters")
    return reason


# --- the monitor -------------------------------------------------------------------------------


def degradation_evaluate(*, now: float | None = None) -> LevelState:
    """Read the conditions, apply the rules and the hysteresis, notice an expired override,
    and record and publish the result. Safe to run from any number of processes at once."""
    rules = degradation_rules()
    readings = conditions_read(rule.condition.text for rule in rules)
    wanted, causes = rules_level(rules, readings)
    seen = conditions_seen(rules, readings)
    read_only = any(
        rule.condition.kind == "database_read_only" and readings[rule.condition.text].met is True for rule in rules
    )
    at = time.time() if now is None else now
    step_down = settings.DEGRADATION_STEP_DOWN_SECONDS

    def advance(previous: LevelState) -> tuple[LevelState, Change | None]:
        state = auto_step(previous, wanted=wanted, causes=causes, now=at, step_down_seconds=step_down)
        state = replace(state, conditions=seen, evaluated_at=at, read_only=read_only)
        if state.override_active(at):
            return state, None  # the override hides what the rules say until it ends
        reason = state.auto_reason
        if previous.source == OPERATOR:
            reason = f"operator override expired (set by {previous.set_by}: {previous.reason}); {state.auto_reason}"
        new = replace(state, level=state.auto_level, source=AUTO, reason=state.auto_reason, set_by="", expires_at=None)
        if new.level == previous.level and previous.source == AUTO:
            return new, None
        new = replace(new, since=at if new.level != previous.level else previous.since, version=previous.version + 1)
        return new, Change(previous.level, new.level, AUTO, reason, at)

    return _change(advance, actor=None, channel=AUTO)


def degradation_monitor_run() -> dict[str, Any]:
    """One run of the monitor, under the maintenance lock so that overlapping runs skip."""
    with job_lock(MONITOR_LOCK, timeout=MONITOR_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("degradation_monitor_skipped", reason="another run holds the lock")
            return {"skipped": True}
        state = degradation_evaluate()
        return {"skipped": False, "level": level_name(state.level), "source": state.source}


# --- operators ---------------------------------------------------------------------------------


def degradation_set_level(
    *, level: DegradationLevel | str, reason: str, expires_in: float | None = None, actor: Any, channel: str
) -> LevelState:
    """Put the level at ``level`` until ``expires_in`` seconds from now (or until cleared),
    whatever the rules say. Refuses an unknown level, a missing reason or a bad expiry."""
    target = level if isinstance(level, DegradationLevel) else level_parse(level)
    reason = reason_check(reason)
    seconds = duration_check(expires_in) if expires_in is not None else None
    at = time.time()
    label = actor_label(actor=actor, channel=channel)
    expires_at = at + seconds if seconds is not None else None

    def advance(previous: LevelState) -> tuple[LevelState, Change | None]:
        current = previous.effective(at)
        new = replace(
            previous,
            level=int(target),
            source=OPERATOR,
            reason=reason,
            set_by=label,
            expires_at=expires_at,
            since=at if target != current.level else current.since,
            version=previous.version + 1,
        )
        return new, Change(current.level, int(target), OPERATOR, reason, at, label, expires_at)

    detail = {"expires_at": to_datetime(expires_at).isoformat() if expires_at else None}
    return _change(advance, actor=actor, channel=channel, audit=("degradation.set_level", reason, detail))


def degradation_clear(*, reason: str, actor: Any, channel: str) -> LevelState:
    """End the operator's override now: the rules set the level again."""
    reason = reason_check(reason)
    at = time.time()
    label = actor_label(actor=actor, channel=channel)

    def advance(previous: LevelState) -> tuple[LevelState, Change | None]:
        if not previous.override_active(at):
            raise DegradationActionRefused(
                f"no operator override is in force: the level ({level_name(previous.effective(at).level)}) "
                "comes from the rules"
            )
        new = replace(
            previous,
            level=previous.auto_level,
            source=AUTO,
            reason=previous.auto_reason,
            set_by="",
            expires_at=None,
            since=at if previous.auto_level != previous.level else previous.since,
            version=previous.version + 1,
        )
        return new, Change(previous.level, new.level, OPERATOR, f"override cleared: {reason}", at, label)

    return _change(advance, actor=actor, channel=channel, audit=("degradation.clear", reason, {}))


# --- the one way a change is made --------------------------------------------------------------


def _change(
    advance: Advance, *, actor: Any, channel: str, audit: tuple[str, str, dict[str, Any]] | None = None
) -> LevelState:
    try:
        with transaction.atomic():
            row = store.state_row(lock=True)
            previous = _newest(store.state_from_row(row))
            if previous.unrecorded:
                _record_late(previous.unrecorded)
                previous = replace(previous, unrecorded=())
            state, change = advance(previous)
            store.row_apply(row, state)
            event = _event_create(change, state, actor=actor) if change is not None else None
            if audit is not None and change is not None:
                action, reason, detail = audit
                audit_record(
                    actor=actor,
                    channel=channel,
                    action=action,
                    target_type=TARGET_TYPE,
                    target_id=TARGET_ID,
                    reason=reason,
                    detail={
                        "from_level": level_name(change.from_level),
                        "to_level": level_name(change.to_level),
                        **detail,
                    },
                )
            transaction.on_commit(lambda: _after(state, change, event.pk if event else None))
    except DatabaseError as exc:
        if audit is not None:
            raise  # an operator's change is not made without its audit record
        logger.error("degradation_state_row_unavailable", error_class=type(exc).__name__)
        previous = _shared_or_local()
        state, change = advance(previous)
        if change is not None:
            kept = (*state.unrecorded, change.as_json())[-UNRECORDED_MAX:]
            state = replace(state, unrecorded=kept)
        _after(state, change, None)
    return state


def _newest(from_row: LevelState) -> LevelState:
    """The row's state, or Redis' when it is newer (changes made while the database was down)."""
    if not settings.REDIS_URL:
        return from_row
    try:
        published = store.redis_state_read()
    except (redis.RedisError, ValueError):
        return from_row
    return published if published is not None and published.version > from_row.version else from_row


def _shared_or_local() -> LevelState:
    if settings.REDIS_URL:
        try:
            published = store.redis_state_read()
        except (redis.RedisError, ValueError):
            published = None
        if published is not None:
            return published
    return store.view.state


def _event_create(change: Change, state: LevelState, *, actor: Any) -> DegradationEvent:
    return DegradationEvent.objects.create(
        created_at=to_datetime(change.at),
        from_level=change.from_level,
        to_level=change.to_level,
        source=change.source,
        reason=change.reason,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_label=change.actor_label,
        expires_at=to_datetime(change.expires_at),
        conditions=state.conditions,
    )


def _record_late(changes: tuple[dict[str, Any], ...]) -> None:
    DegradationEvent.objects.bulk_create(
        DegradationEvent(
            created_at=to_datetime(item["at"]),
            from_level=item["from_level"],
            to_level=item["to_level"],
            source=item["source"],
            reason=f"{item['reason']} (recorded late: the database was unavailable)",
            actor_label=item["actor_label"],
            expires_at=to_datetime(item.get("expires_at")),
        )
        for item in changes
    )
    logger.info("degradation_history_caught_up", events=len(changes))


def _after(state: LevelState, change: Change | None, event_id: int | None) -> None:
    """After the commit: publish, let this process see it at once, log, announce (the scrape counts the row)."""
    store.state_publish(state)
    store.view.remember(state)
    if change is None:
        return
    old, new = level_name(change.from_level), level_name(change.to_level)
    log = logger.warning if change.to_level > change.from_level else logger.info
    log(
        "degradation_level_changed",
        old_level=old,
        new_level=new,
        source=change.source,
        reason=change.reason,
        actor=change.actor_label,
        expires_at=to_datetime(change.expires_at).isoformat() if change.expires_at else None,
    )
    if change.to_level == change.from_level:
        return
    for receiver, result in degradation_level_changed.send_robust(
        sender=DegradationState,
        old_level=DegradationLevel(change.from_level),
        new_level=DegradationLevel(change.to_level),
        source=change.source,
        reason=change.reason,
        event_id=event_id,
    ):
        if isinstance(result, Exception):
            logger.error(
                "degradation_receiver_failed",
                receiver=getattr(receiver, "__qualname__", repr(receiver)),
                error_class=type(result).__name__,
            )
