"""Degradation levels and the operator inputs that name them: a level and a duration.

Levels are ordered integers (0-4, the value of ``system_degradation_level``); every door
(admin, ops API, command, settings) names them by their lower-case name. The parsers
here are the one place that decides what a door accepts, so a bad value gets the same
message everywhere.
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.db import models


class DegradationLevel(models.IntegerChoices):
    NORMAL = 0, "Normal"
    MINOR = 1, "Minor"
    MODERATE = 2, "Moderate"
    SEVERE = 3, "Severe"
    CRITICAL = 4, "Critical"

    @property
    def slug(self) -> str:
        """The name doors and settings use: ``normal`` ... ``critical``."""
        return self.name.lower()


class DegradationSource(models.TextChoices):
    AUTO = "auto", "Automatic (rules)"
    OPERATOR = "operator", "Operator"


LEVEL_NAMES = tuple(level.slug for level in DegradationLevel)
VALID_LEVELS_TEXT = ", ".join(LEVEL_NAMES)
# An override longer than this is a mistake (a unit typed wrong), not a plan.
MAX_OVERRIDE_SECONDS = 30 * 24 * 3600
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*$", re.IGNORECASE | re.ASCII)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class UnknownLevel(ValueError):
    """A level name that is not one of ``LEVEL_NAMES`` (400 / exit 2, listing the valid ones)."""

    def __init__(self, value: Any) -> None:
        shown = value if isinstance(value, str) else type(value).__name__
        super().__init__(f"unknown degradation level {str(shown)[:40]!r}; valid levels: {VALID_LEVELS_TEXT}")


class InvalidDuration(ValueError):
    """An expiry that is not a positive, finite duration of at most ``MAX_OVERRIDE_SECONDS``."""


def level_parse(value: Any) -> DegradationLevel:
    """``"moderate"`` (any case, surrounding spaces ignored) -> ``DegradationLevel.MODERATE``."""
    if isinstance(value, str):
        name = value.strip().upper()
        if name in DegradationLevel.names:
            return DegradationLevel[name]
    raise UnknownLevel(value)


def duration_parse(value: Any) -> float:
    """Seconds from ``900``, ``"900"``, ``"90s"``, ``"30m"``, ``"2h"`` or ``"1d"``.

    Refuses zero, negative, NaN, infinite, unparsable values and anything over 30 days,
    with a message that says what is accepted.
    """
    seconds: float | None = None
    if isinstance(value, bool):
        seconds = None
    elif isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond any float
            seconds = None
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    return duration_check(seconds, shown=value)


def duration_check(seconds: float | None, *, shown: Any = None) -> float:
    """``seconds`` when it is a usable override duration, else ``InvalidDuration``."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0 or seconds > MAX_OVERRIDE_SECONDS:
        given = shown if shown is not None else seconds
        text = given if isinstance(given, str) else repr(given)
        raise InvalidDuration(
            f"expiry {str(text)[:40]!r} is not a duration in the future: give seconds or a number with "
            f"s, m, h or d (900, 30m, 2h, 1d), more than 0 and at most {MAX_OVERRIDE_SECONDS // 86400} days"
        )
    return float(seconds)
