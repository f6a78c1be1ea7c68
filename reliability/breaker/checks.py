"""System checks: a bad ``CIRCUIT_BREAKER_CONFIGS`` stops start-up with a message, not a 500 later."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ValidationError

from reliability.breaker.breaker import NAME_PATTERN
from reliability.breaker.config import CircuitBreakerConfig


@register()
def check_breaker_configs(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    configs = getattr(settings, "CIRCUIT_BREAKER_CONFIGS", {})
    if not isinstance(configs, dict):
        return [Error("CIRCUIT_BREAKER_CONFIGS must be a dict of breaker name -> settings", id="reliability.E101")]
    for name, values in configs.items():
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            errors.append(
                Error(f"breaker name {name!r} must be 1-64 letters, digits, '-' or '_'", id="reliability.E102")
            )
            continue
        try:
            CircuitBreakerConfig().with_changes(dict(values)).validate()
        except (TypeError, ValueError, ValidationError) as exc:
            detail = (
                "; ".join(f"{field} {' '.join(messages)}" for field, messages in exc.message_dict.items())
                if isinstance(exc, ValidationError) and hasattr(exc, "error_dict")
                else str(exc)
            )
            errors.append(Error(f"CIRCUIT_BREAKER_CONFIGS[{name!r}]: {detail}", id="reliability.E103"))
    return errors
