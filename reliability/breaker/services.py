"""Operator changes to breakers: one implementation for the admin, the ops API, the command
and the seed's ``cb.reset()``.

Each writes the transition (reason ``operator``, with the actor) and an audit record
(action ``circuit_breaker.<verb>``), and bumps the row's ``config_version`` so every
process obeys within about a second.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.db import transaction

from reliability.audit import audit_record
from reliability.breaker.breaker import CircuitBreaker, get_circuit_breaker
from reliability.breaker.config import OVERRIDE_FIELDS, CircuitBreakerConfig, coerce_override
from reliability.breaker.models import BreakerState
from reliability.breaker.models import CircuitBreaker as BreakerRow
from reliability.breaker.persistence import bump_version, ensure_row
from reliability.breaker.selectors import breaker_names, breaker_require, breaker_snapshot
from reliability.breaker.state import Transition

logger = structlog.get_logger(__name__)

TARGET_TYPE = "circuit_breaker"
# "Back to normal" undoes what only an operator does: these states. A breaker that its
# thresholds opened is closed with reset instead.
NORMALIZABLE_STATES = (BreakerState.FORCED_OPEN, BreakerState.DISABLED, BreakerState.METRICS_ONLY)
_NORMALIZABLE_LABELS = [state.label.lower() for state in NORMALIZABLE_STATES]
NORMALIZABLE_WORDS = f"{', '.join(_NORMALIZABLE_LABELS[:-1])} or {_NORMALIZABLE_LABELS[-1]}"


class BreakerActionRefused(ValueError):
    """The action makes no sense in the breaker's current state (the doors answer 409 / exit 1)."""


def breaker_normalize_refusal(*, state: BreakerState | None) -> str | None:
    """Why "back to normal" leaves a breaker in ``state`` (None: unreadable) alone, or None
    when it applies. The service refuses with it and the admin's confirmation page shows it."""
    if state in NORMALIZABLE_STATES:
        return None
    described = state.label.lower() if state is not None else "of unknown state (store unreachable)"
    return f"{described}, not {NORMALIZABLE_WORDS}; use reset to close it"


def _known_breaker(name: str) -> CircuitBreaker:
    # UnknownBreaker before the registry lookup, so a mistyped name never creates a breaker.
    breaker_require(name=name)
    return get_circuit_breaker(name)


def _operator_change(
    *, breaker: CircuitBreaker, target: BreakerState, verb: str, actor: Any, channel: str, reason: str
) -> Transition:
    transition = breaker.set_state(target, actor=actor, note=reason)
    audit_record(
        actor=actor,
        channel=channel,
        action=f"{TARGET_TYPE}.{verb}",
        target_type=TARGET_TYPE,
        target_id=breaker.name,
        reason=reason,
        detail={"from_state": transition.from_state, "to_state": transition.to_state},
    )
    return transition


def breaker_reset(*, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Close the breaker and empty its window, whatever its state."""
    return _operator_change(
        breaker=_known_breaker(name),
        target=BreakerState.CLOSED,
        verb="reset",
        actor=actor,
        channel=channel,
        reason=reason,
    )


def breaker_reset_from_code(*, breaker: CircuitBreaker) -> Transition:
    """The seed's ``cb.reset()``: the same reset, audited as coming from code, on that very breaker."""
    breaker_require(name=breaker.name)
    return _operator_change(
        breaker=breaker, target=BreakerState.CLOSED, verb="reset", actor=None, channel="code", reason="reset from code"
    )


def breaker_force_open(*, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Reject every call until an operator changes it again."""
    return _operator_change(
        breaker=_known_breaker(name),
        target=BreakerState.FORCED_OPEN,
        verb="force_open",
        actor=actor,
        channel=channel,
        reason=reason,
    )


def breaker_disable(*, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Admit every call and make no transitions (the breaker is out of the way)."""
    return _operator_change(
        breaker=_known_breaker(name),
        target=BreakerState.DISABLED,
        verb="disable",
        actor=actor,
        channel=channel,
        reason=reason,
    )


def breaker_metrics_only(*, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Admit every call, keep counting, make no transitions (to watch new thresholds)."""
    return _operator_change(
        breaker=_known_breaker(name),
        target=BreakerState.METRICS_ONLY,
        verb="metrics_only",
        actor=actor,
        channel=channel,
        reason=reason,
    )


def breaker_normalize(*, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Back to normal operation (CLOSED) from one of ``NORMALIZABLE_STATES``, else refused."""
    breaker = _known_breaker(name)
    refusal = breaker_normalize_refusal(state=breaker.state)
    if refusal is not None:
        raise BreakerActionRefused(f"circuit breaker {name!r} is {refusal}")
    return _operator_change(
        breaker=breaker, target=BreakerState.CLOSED, verb="normalize", actor=actor, channel=channel, reason=reason
    )


def breaker_update_config(
    *, name: str, changes: dict[str, Any], actor: Any, channel: str, reason: str = ""
) -> CircuitBreakerConfig:
    """Set or clear (``None`` or ``""``) override thresholds; returns the new effective config.

    Raises ``ValidationError`` keyed by field when a value, or the resulting config as a
    whole (``minimum_requests`` above ``window_size``...), is not acceptable.
    """
    breaker = _known_breaker(name)
    unknown = sorted(set(changes) - set(OVERRIDE_FIELDS))
    if unknown:
        raise ValidationError({field: ["is not an editable circuit breaker threshold"] for field in unknown})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        try:
            cleaned[field] = coerce_override(field, value)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        row = ensure_row(name)
        row = BreakerRow.objects.select_for_update().get(pk=row.pk)
        before = {field: getattr(row, field) for field in OVERRIDE_FIELDS}
        overrides = {**before, **cleaned}
        merged = breaker.base_config.with_changes({k: v for k, v in overrides.items() if v is not None})
        merged.validate()
        BreakerRow.objects.filter(pk=row.pk).update(**cleaned)
        version = bump_version(name)
        audit_record(
            actor=actor,
            channel=channel,
            action=f"{TARGET_TYPE}.update_config",
            target_type=TARGET_TYPE,
            target_id=name,
            reason=reason,
            detail={"before": {k: before[k] for k in cleaned}, "after": cleaned},
        )
    breaker.publish(version)
    breaker.reload()
    return breaker.config


# States that say a dependency is unwell right now (an operator's states are choices).
_UNWELL = (BreakerState.OPEN, BreakerState.HALF_OPEN)


def breaker_monitor_run() -> dict[str, str]:
    """The beat job ``monitor_circuit_breakers``: one log line per breaker with its live state.

    Open and half-open breakers are warnings, with how long they have been so; a breaker
    whose store cannot be read is a warning with state ``unknown``. Alerts come from the
    metrics (``circuit_breaker_state``), not from here. Returns ``{name: state}``.
    """
    states: dict[str, str] = {}
    for name in breaker_names():
        try:
            snapshot = breaker_snapshot(name=name)
        except Exception as exc:  # noqa: BLE001 - one unreadable store must not hide the others
            logger.warning("circuit_breaker_status_unavailable", name=name, error_class=type(exc).__name__)
            states[name] = "unknown"
            continue
        states[name] = snapshot["state"]
        changed_at = snapshot["state_changed_at"]
        log = logger.warning if snapshot["state"] in _UNWELL else logger.info
        log(
            "circuit_breaker_status",
            name=name,
            state=snapshot["state"],
            since=changed_at.isoformat(timespec="seconds") if changed_at else None,
            failure_rate=round(snapshot["failure_rate"], 4),
            consecutive_failures=snapshot["consecutive_failures"],
            calls_in_window=snapshot["calls_in_window"],
            retry_after=round(snapshot["retry_after"], 1) if snapshot["retry_after"] is not None else None,
        )
    logger.info("circuit_breakers_monitored", **dict(Counter(states.values())))
    return states
