"""The degradation state as every process sees it, and the rules that move it.

``LevelState`` carries the fields of the ``DegradationState`` row; it is what the shared
store publishes and what the evaluation works on, so the same rules apply whether the
previous state came from the row or (with the database down) from Redis. The functions
here are pure: they take the time and the readings as arguments.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from reliability.degradation.conditions import Reading
from reliability.degradation.config import Rule
from reliability.degradation.levels import DegradationLevel, DegradationSource

AUTO = DegradationSource.AUTO.value
OPERATOR = DegradationSource.OPERATOR.value
NO_CONDITION = "no condition holds"


@dataclass(frozen=True)
class LevelState:
    level: int = DegradationLevel.NORMAL
    source: str = AUTO
    reason: str = ""
    since: float | None = None  # epoch seconds, like every time here
    set_by: str = ""
    expires_at: float | None = None
    auto_level: int = DegradationLevel.NORMAL
    auto_reason: str = ""
    step_down_level: int | None = None
    step_down_since: float | None = None
    conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluated_at: float | None = None
    read_only: bool = False
    version: int = 0
    # Changes made while the database could not take them (kept in Redis), oldest first;
    # written to the history by the next evaluation that reaches the database.
    unrecorded: tuple[dict[str, Any], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LevelState:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["unrecorded"] = tuple(known.get("unrecorded", ()))
        return cls(**known)

    def override_active(self, now: float) -> bool:
        return self.source == OPERATOR and (self.expires_at is None or now < self.expires_at)

    def effective(self, now: float) -> LevelState:
        """This state as of ``now``: an operator override past its expiry gives way to the rules.

        Readers apply it without writing; the monitor's next evaluation records the change.
        """
        if self.source != OPERATOR or self.override_active(now):
            return self
        return replace(
            self,
            level=self.auto_level,
            source=AUTO,
            reason=self.auto_reason,
            since=self.expires_at,
            set_by="",
            expires_at=None,
        )


def to_epoch(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def to_datetime(value: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, tz=dt.UTC) if value is not None else None


def rules_level(rules: list[Rule], readings: dict[str, Reading]) -> tuple[int, list[str]]:
    """The highest level among the rules whose condition holds, and those conditions."""
    level = int(DegradationLevel.NORMAL)
    causes: list[str] = []
    for rule in rules:
        if readings.get(rule.condition.text, Reading(None)).met is not True:
            continue
        if rule.level > level:
            level, causes = int(rule.level), [rule.condition.text]
        elif rule.level == level:
            causes.append(rule.condition.text)
    return level, causes


def conditions_seen(rules: list[Rule], readings: dict[str, Reading]) -> dict[str, dict[str, Any]]:
    """What the doors show: each rule's condition, its level and what was read."""
    seen = {}
    for rule in rules:
        reading = readings.get(rule.condition.text, Reading(None, "not read"))
        seen[rule.condition.text] = {"met": reading.met, "level": rule.level.slug, "detail": reading.detail}
    return seen


def auto_step(state: LevelState, *, wanted: int, causes: list[str], now: float, step_down_seconds: float) -> LevelState:
    """Hysteresis: up at once; down only once the rules asked for less for ``step_down_seconds``.

    While stepping down waits, ``step_down_level`` keeps the highest level the rules asked
    for during the wait, and that is where the level goes: a level that has held throughout.
    """
    reason = ", ".join(causes) if causes else NO_CONDITION
    if wanted >= state.auto_level:
        return replace(state, auto_level=wanted, auto_reason=reason, step_down_level=None, step_down_since=None)
    since = state.step_down_since if state.step_down_since is not None else now
    lower = wanted if state.step_down_level is None else max(state.step_down_level, wanted)
    if now - since >= step_down_seconds and math.isfinite(step_down_seconds):
        waited = f"stepped down after {now - since:.0f} s"
        if lower != wanted:
            waited += f" to {DegradationLevel(lower).slug}, the highest level asked for meanwhile"
        return replace(
            state,
            auto_level=lower,
            auto_reason=f"{reason} ({waited})",
            step_down_level=None,
            step_down_since=None,
        )
    return replace(state, step_down_level=lower, step_down_since=since)


def level_name(level: int) -> str:
    return DegradationLevel(level).slug
