"""Operator changes to breakers: one implementation for the admin, the ops API and the command.

Each writes the transition (reason ``operator``, with the actor) and an audit record,
and bumps the row's ``config_version`` so every process obeys within about a second.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from reliability.audit import audit_record
from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.config import OVERRIDE_FIELDS, CircuitBreakerConfig, coerce_override
from reliability.breaker.models import BreakerState, CircuitBreaker
from reliability.breaker.persistence import bump_version, ensure_row
from reliability.breaker.selectors import breaker_require
from reliability.breaker.state import Transition

TARGET_TYPE = "circuit_breaker"


class BreakerActionRefused(ValueError):
    """The action makes no sense in the breaker's current state (the doors answer 409 / exit 1)."""


def _operator_change(*, name: str, target: str, action: str, actor: Any, channel: str, reason: str) -> Transition:
    breaker_require(name=name)
    transition = get_circuit_breaker(name).set_state(target, actor=actor, note=reason)
    audit_record(
        actor=actor,
        channel=channel,
        action=action,
        target_type=TARGET_TYPE,
        target_id=name,
        reason=reason,
        detail={"from_state": transition.from_state, "to_state": transition.to_state},
    )
    return transition


def breaker_reset(*, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Close the breaker and empty its window, whatever its state."""
    return _operator_change(
        name=name, target=BreakerState.CLOSED, action="breaker_reset", actor=actor, channel=channel, reason=reason
    )


def breaker_force_open(*, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Reject every call until an operator changes it again."""
    return _operator_change(
        name=name,
        target=BreakerState.FORCED_OPEN,
        action="breaker_force_open",
        actor=actor,
        channel=channel,
        reason=reason,
    )


def breaker_disable(*, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Admit every call and make no transitions (the breaker is out of the way)."""
    return _operator_change(
        name=name, target=BreakerState.DISABLED, action="breaker_disable", actor=actor, channel=channel, reason=reason
    )


def breaker_metrics_only(*, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Admit every call, keep counting, make no transitions (to watch new thresholds)."""
    return _operator_change(
        name=name,
        target=BreakerState.METRICS_ONLY,
        action="breaker_metrics_only",
        actor=actor,
        channel=channel,
        reason=reason,
    )


def breaker_normalize(*, name: str, actor: Any, channel: str, reason: str = "") -> Transition:
    """Back to normal operation (CLOSED) from forced open, disabled or metrics only."""
    breaker_require(name=name)
    current = get_circuit_breaker(name).state
    operator_states = (BreakerState.FORCED_OPEN, BreakerState.DISABLED, BreakerState.METRICS_ONLY)
    if current not in operator_states:
        raise BreakerActionRefused(
            f"circuit breaker {name!r} is {current.label.lower()}, not forced open, disabled or metrics only; "
            "use reset to close it"
        )
    return _operator_change(
        name=name, target=BreakerState.CLOSED, action="breaker_normalize", actor=actor, channel=channel, reason=reason
    )


def breaker_update_config(
    *, name: str, changes: dict[str, Any], actor: Any, channel: str, reason: str = ""
) -> CircuitBreakerConfig:
    """Set or clear (``None`` or ``""``) override thresholds; returns the new effective config.

    Raises ``ValidationError`` keyed by field when a value, or the resulting config as a
    whole (``minimum_requests`` above ``window_size``...), is not acceptable.
    """
    breaker_require(name=name)
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
    breaker = get_circuit_breaker(name)
    with transaction.atomic():
        row = ensure_row(name)
        row = CircuitBreaker.objects.select_for_update().get(pk=row.pk)
        before = {field: getattr(row, field) for field in OVERRIDE_FIELDS}
        overrides = {**before, **cleaned}
        merged = breaker.base_config.with_changes({k: v for k, v in overrides.items() if v is not None})
        merged.validate()
        CircuitBreaker.objects.filter(pk=row.pk).update(**cleaned)
        version = bump_version(name)
        audit_record(
            actor=actor,
            channel=channel,
            action="breaker_update_config",
            target_type=TARGET_TYPE,
            target_id=name,
            reason=reason,
            detail={"before": {k: before[k] for k in cleaned}, "after": cleaned},
        )
    breaker.publish(version)
    breaker.reload()
    return breaker.config
