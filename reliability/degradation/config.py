"""The two settings tables: which conditions raise the level (``DEGRADATION_RULES``) and up to
which level each feature runs (``DEGRADATION_FEATURES``).

Both are ``{name: level name}`` objects; the system checks (``reliability.degradation.checks``)
refuse a table that names an unknown level or condition, so a typo stops start-up rather
than silently never degrading. The feature table is read on every ``allows()`` call, so it
is parsed once per process (and again when a test changes the setting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from reliability.degradation.conditions import Condition, condition_parse, condition_problem
from reliability.degradation.levels import DegradationLevel, UnknownLevel, level_parse


@dataclass(frozen=True)
class Rule:
    condition: Condition
    level: DegradationLevel


class UnknownFeature(LookupError):
    """``allows()`` was asked about a feature ``DEGRADATION_FEATURES`` does not name: a bug in the caller."""

    def __init__(self, feature: Any) -> None:
        super().__init__(
            f"no degradation feature gate named {feature!r}; DEGRADATION_FEATURES names: "
            f"{', '.join(sorted(settings.DEGRADATION_FEATURES))}"
        )


def table_problems(name: str, table: Any, *, keys_are_conditions: bool) -> list[str]:
    """Every reason ``table`` (the setting ``name``) is unusable; empty when it is fine."""
    if not isinstance(table, dict):
        return [f"{name} must be an object of name -> level, not {type(table).__name__}"]
    problems = []
    for key, value in table.items():
        if keys_are_conditions:
            problem = condition_problem(key)
            if problem:
                problems.append(f"{name}: {problem}")
        elif not isinstance(key, str) or not key:
            problems.append(f"{name}: {key!r} is not a feature name")
        try:
            level_parse(value)
        except UnknownLevel as exc:
            problems.append(f"{name}[{key!r}]: {exc}")
    return problems


def degradation_rules() -> list[Rule]:
    return [Rule(condition_parse(text), level_parse(level)) for text, level in settings.DEGRADATION_RULES.items()]


_feature_limits: dict[str, int] | None = None


def feature_limits() -> dict[str, int]:
    """Feature name -> the highest level at which it runs, as plain ints for the hot path."""
    global _feature_limits
    limits = _feature_limits
    if limits is None:
        limits = _feature_limits = {
            feature: int(level_parse(level)) for feature, level in settings.DEGRADATION_FEATURES.items()
        }
    return limits


@receiver(setting_changed)
def _forget_feature_limits(*, setting: str, **kwargs: Any) -> None:
    global _feature_limits
    if setting == "DEGRADATION_FEATURES":
        _feature_limits = None
