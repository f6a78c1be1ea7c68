"""Conditions the rule table can name, and how each is read.

A condition is ``kind`` or ``kind:argument`` (``breaker_open:deepseek``). Each kind is
registered with a reader that answers for all conditions of its kinds at once, so a
source that is costly to ask (the health checks) is asked once per evaluation. This
module registers the kinds reliability itself can read; ``health`` registers those of
the health checks (``database_down``, ``redis_down``, ``health:CHECK...``) when its app
loads, since reliability does not import health.

A reader answers ``Reading(met=None)`` when it cannot tell (the store it reads is down):
such a condition does not count as met, and the doors show why.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import DatabaseError, connections

from reliability.breaker.models import BreakerState

logger = structlog.get_logger(__name__)

# A breaker in these states turns calls away: the dependency is treated as unavailable.
REJECTING_STATES = frozenset({BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.FORCED_OPEN})


@dataclass(frozen=True)
class Condition:
    text: str  # as written in DEGRADATION_RULES
    kind: str
    argument: str  # "" for kinds without one


@dataclass(frozen=True)
class Reading:
    met: bool | None  # None: could not be read
    detail: str = ""


Reader = Callable[[list[Condition]], Mapping[str, Reading]]
# Why an argument is malformed, or None; for the system check.
ArgumentCheck = Callable[[str], str | None]


@dataclass(frozen=True)
class ConditionKind:
    name: str
    reader: Reader
    takes_argument: bool
    description: str
    argument_problem: ArgumentCheck | None = None


_kinds: dict[str, ConditionKind] = {}
_kinds_lock = threading.Lock()


def register_condition_kind(
    name: str,
    *,
    reader: Reader,
    takes_argument: bool,
    description: str,
    argument_problem: ArgumentCheck | None = None,
) -> None:
    """Make ``name`` usable in ``DEGRADATION_RULES``. ``reader`` gets the conditions of this
    kind (and of any other kind registered with the same reader) and answers each by text;
    ``argument_problem`` lets the system check refuse a malformed argument."""
    with _kinds_lock:
        _kinds[name] = ConditionKind(name, reader, takes_argument, description, argument_problem)


def condition_kinds() -> dict[str, ConditionKind]:
    return dict(_kinds)


def condition_parse(text: str) -> Condition:
    kind, _, argument = text.partition(":")
    return Condition(text=text, kind=kind, argument=argument)


def condition_problem(text: object) -> str | None:
    """Why ``text`` cannot be a condition of the rule table, or None."""
    if not isinstance(text, str) or not text:
        return f"{text!r} is not a condition name"
    condition = condition_parse(text)
    kind = _kinds.get(condition.kind)
    if kind is None:
        return f"unknown condition kind {condition.kind!r}; known: {', '.join(sorted(_kinds))}"
    if kind.takes_argument and not condition.argument:
        return f"{text!r} needs an argument: {condition.kind}:<...>"
    if not kind.takes_argument and condition.argument:
        return f"{text!r}: {condition.kind} takes no argument"
    if kind.argument_problem is not None:
        problem = kind.argument_problem(condition.argument)
        if problem:
            return f"{text!r}: {problem}"
    return None


def conditions_read(texts: Iterable[str]) -> dict[str, Reading]:
    """Read every condition, one call per reader; a reader that fails answers None for its own."""
    by_reader: dict[Reader, list[Condition]] = {}
    readings: dict[str, Reading] = {}
    for text in texts:
        condition = condition_parse(text)
        kind = _kinds.get(condition.kind)
        if kind is None:
            readings[text] = Reading(None, f"unknown condition kind {condition.kind!r}")
            continue
        by_reader.setdefault(kind.reader, []).append(condition)
    for reader, conditions in by_reader.items():
        try:
            answered = reader(conditions)
        except Exception as exc:  # noqa: BLE001 - a broken source must not stop the evaluation
            logger.warning("degradation_condition_unreadable", error_class=type(exc).__name__)
            answered = {}
            detail = f"could not be read ({type(exc).__name__})"
        else:
            detail = "not answered by its reader"
        for condition in conditions:
            readings[condition.text] = answered.get(condition.text, Reading(None, detail))
    return readings


# --- kinds reliability reads itself -----------------------------------------------------------


def _read_breakers(conditions: list[Condition]) -> dict[str, Reading]:
    from redis.exceptions import RedisError

    from reliability.breaker.selectors import UnknownBreaker, breaker_require, breaker_state

    readings = {}
    for condition in conditions:
        try:
            breaker_require(name=condition.argument)
            state = BreakerState(breaker_state(name=condition.argument))
        except UnknownBreaker as exc:
            readings[condition.text] = Reading(None, str(exc))
        except (RedisError, DatabaseError) as exc:
            readings[condition.text] = Reading(None, f"breaker store unreachable ({type(exc).__name__})")
        else:
            readings[condition.text] = Reading(state in REJECTING_STATES, state.value)
    return readings


def _read_database_read_only(conditions: list[Condition]) -> dict[str, Reading]:
    if settings.DEGRADATION_READ_ONLY:
        reading = Reading(True, "DEGRADATION_READ_ONLY is on")
    else:
        reading = database_read_only_reading()
    return {condition.text: reading for condition in conditions}


def database_read_only_reading() -> Reading:
    """Whether PostgreSQL refuses writes: a hot standby (after a failover), or
    ``default_transaction_read_only`` set on the database or session. SQLite never is."""
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return Reading(False, f"not checked on {connection.vendor}")
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only'), "
                "current_setting('transaction_read_only')"
            )
            in_recovery, default_read_only, read_only = cursor.fetchone()
    except DatabaseError as exc:
        return Reading(None, f"database unreachable ({type(exc).__name__})")
    if in_recovery:
        return Reading(True, "the database is a standby in recovery")
    if "on" in (default_read_only, read_only):
        return Reading(True, "the database refuses writes (transaction_read_only=on)")
    return Reading(False, "writable")


register_condition_kind(
    "breaker_open",
    reader=_read_breakers,
    takes_argument=True,
    description="breaker_open:NAME - the circuit breaker NAME turns calls away (open, half-open or forced open)",
)
register_condition_kind(
    "database_read_only",
    reader=_read_database_read_only,
    takes_argument=False,
    description="database_read_only - DEGRADATION_READ_ONLY is on, or PostgreSQL refuses writes (standby, read-only)",
)
