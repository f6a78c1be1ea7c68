"""Where a breaker keeps its state: in this process, in the database row, or in Redis.

Every store answers the same questions: may a call run (``acquire``), what did the call
do (``record``), what did an operator decide (``set_state``), what does it look like now
(``snapshot``). Shared stores keep a copy of the last state the shared side reported, so
a call in CLOSED state asks nobody before it runs and an OPEN breaker whose reopen time
is known rejects without any round trip; the copy is refreshed at least every
``REFRESH_INTERVAL`` seconds, which bounds how long an operator's change takes to reach
an idle process.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import structlog
from django.db import DatabaseError, transaction

from reliability.breaker.config import CircuitBreakerConfig
from reliability.breaker.models import CircuitBreaker
from reliability.breaker.persistence import ensure_row, save_transitions, to_datetime, to_timestamp
from reliability.breaker.state import (
    ADMITTING_STATES,
    CLOSED,
    FORCED_OPEN,
    IGNORED,
    OPEN,
    BreakerCore,
    Decision,
    Transition,
)

logger = structlog.get_logger(__name__)

REFRESH_INTERVAL = 1.0
ADMIT = {state: Decision(True, state) for state in ADMITTING_STATES}
FORCED = Decision(False, FORCED_OPEN, retry_after=None)


@dataclass(frozen=True)
class Snapshot:
    state: str
    open_until: float | None
    consecutive_failures: int
    failure_rate: float
    slow_call_rate: float
    calls_in_window: int
    half_open_calls: int


def core_snapshot(core: BreakerCore) -> Snapshot:
    return Snapshot(
        state=core.state,
        open_until=core.open_until if core.state == OPEN else None,
        consecutive_failures=core.consecutive_failures,
        failure_rate=core.failure_rate,
        slow_call_rate=core.slow_rate,
        calls_in_window=core.total,
        half_open_calls=len(core.permits),
    )


class LocalStore:
    """One state per process (``scope="local"``, and the database's own breaker without Redis)."""

    kind = "local"
    io_free = True
    persists_transitions = False

    def __init__(self, name: str, config: CircuitBreakerConfig) -> None:
        self.name = name
        self.config = config
        self.remote_version = 0
        self._core = BreakerCore()
        self._lock = threading.Lock()

    def configure(self, config: CircuitBreakerConfig) -> None:
        self.config = config

    def acquire_cached(self, now: float) -> Decision:
        return self.acquire(now)

    def acquire(self, now: float) -> Decision:
        state = self._core.state
        if state in ADMITTING_STATES:
            return ADMIT[state]
        with self._lock:
            return self._core.acquire(self.config, now)

    def record_needs_io(self, decision: Decision, outcome: str) -> bool:
        return False

    def record(self, decision: Decision, outcome: str, slow: bool, now: float) -> tuple[Transition, ...]:
        if outcome == IGNORED and decision.permit is None:
            return ()
        with self._lock:
            transition = self._core.record(self.config, now, outcome, slow, decision.permit)
        return (transition,) if transition else ()

    def set_state(self, target: str, now: float, version: int, *, actor: Any = None, note: str = "") -> Transition:
        with self._lock:
            return self._core.set_state(target, now)

    def publish_version(self, version: int) -> None:
        """Nothing shared to tell; other processes poll the published version."""

    def current_state(self, now: float) -> str:
        return self._core.state

    def snapshot(self, now: float) -> Snapshot:
        with self._lock:
            return core_snapshot(self._core)


class CachedSharedStore:
    """The local copy of a shared store's state, and the decisions it allows without I/O."""

    io_free = False

    def __init__(self, name: str, config: CircuitBreakerConfig) -> None:
        self.name = name
        self.config = config
        self.remote_version = 0
        self._state = CLOSED
        self._open_until = 0.0
        self._checked_at = -math.inf

    def configure(self, config: CircuitBreakerConfig) -> None:
        self.config = config

    def remember(self, state: str, open_until: float, version: int, now: float) -> None:
        self._state = state
        self._open_until = open_until
        self._checked_at = now
        if version > self.remote_version:
            self.remote_version = version

    def acquire_cached(self, now: float) -> Decision | None:
        """The decision the cached state allows, or None when only the shared side can say."""
        if now - self._checked_at >= REFRESH_INTERVAL:
            return None
        state = self._state
        if state in ADMITTING_STATES:
            return ADMIT[state]
        if state == OPEN and now < self._open_until:
            return Decision(False, OPEN, retry_after=self._open_until - now)
        if state == FORCED_OPEN:
            return FORCED
        return None

    def acquire(self, now: float) -> Decision:
        if now - self._checked_at >= REFRESH_INTERVAL:
            self.refresh(now)
        decision = self.acquire_cached(now)
        if decision is not None:
            return decision
        return self.acquire_shared(now)

    def record_needs_io(self, decision: Decision, outcome: str) -> bool:
        return outcome != IGNORED or decision.permit is not None

    def current_state(self, now: float) -> str:
        if now - self._checked_at >= REFRESH_INTERVAL:
            self.refresh(now)
        return self._state

    def refresh(self, now: float) -> None:
        raise NotImplementedError

    def acquire_shared(self, now: float) -> Decision:
        raise NotImplementedError


class DatabaseStore(CachedSharedStore):
    """State in the ``CircuitBreaker`` row, changed under ``SELECT ... FOR UPDATE``.

    The embedded default (no Redis): the row lock serialises processes on PostgreSQL;
    on SQLite the IMMEDIATE transactions of the settings do the same. Transitions are
    written in the same transaction as the state change.
    """

    kind = "database"
    persists_transitions = True

    def _locked_row(self) -> CircuitBreaker:
        try:
            return CircuitBreaker.objects.select_for_update().get(name=self.name)
        except CircuitBreaker.DoesNotExist:
            ensure_row(self.name)  # first call ever; get_or_create keeps its own savepoint
            return CircuitBreaker.objects.select_for_update().get(name=self.name)

    @staticmethod
    def _core(row: CircuitBreaker) -> BreakerCore:
        return BreakerCore.from_data(
            state=row.state,
            open_until=to_timestamp(row.open_until),
            consecutive_failures=row.consecutive_failures,
            data=row.runtime or {},
        )

    def _save(
        self, row: CircuitBreaker, core: BreakerCore, transitions: list[Transition], now: float, **history: Any
    ) -> None:
        row.state = core.state
        row.open_until = to_datetime(core.open_until) if core.state == OPEN else None
        row.consecutive_failures = core.consecutive_failures
        row.failure_rate = core.failure_rate
        row.runtime = core.to_data()
        save_transitions(row, transitions, **history)
        row.save()
        self.remember(core.state, core.open_until, row.config_version, now)

    def refresh(self, now: float) -> None:
        try:
            row = CircuitBreaker.objects.filter(name=self.name).values("state", "open_until", "config_version").first()
        except DatabaseError as exc:
            logger.warning("circuit_breaker_store_unavailable", name=self.name, error=exc.__class__.__name__)
            self._checked_at = now
            return
        if row is None:
            self.remember(CLOSED, 0.0, 0, now)
        else:
            self.remember(row["state"], to_timestamp(row["open_until"]), row["config_version"], now)

    def acquire_shared(self, now: float) -> Decision:
        try:
            with transaction.atomic():
                row = self._locked_row()
                core = self._core(row)
                decision = core.acquire(self.config, now)
                self._save(row, core, list(decision.transitions), now)
                return decision
        except DatabaseError as exc:
            # Only reached while the breaker was open or probing: keep rejecting.
            logger.warning("circuit_breaker_store_unavailable", name=self.name, error=exc.__class__.__name__)
            return Decision(False, self._state, retry_after=REFRESH_INTERVAL)

    def record(self, decision: Decision, outcome: str, slow: bool, now: float) -> list[Transition]:
        if not self.record_needs_io(decision, outcome):
            return []
        try:
            with transaction.atomic():
                row = self._locked_row()
                core = self._core(row)
                transition = core.record(self.config, now, outcome, slow, decision.permit)
                transitions = [transition] if transition else []
                self._save(row, core, transitions, now)
                return transitions
        except DatabaseError as exc:
            logger.warning("circuit_breaker_store_unavailable", name=self.name, error=exc.__class__.__name__)
            return []

    def set_state(self, target: str, now: float, version: int, *, actor: Any = None, note: str = "") -> Transition:
        with transaction.atomic():
            row = self._locked_row()
            core = self._core(row)
            transition = core.set_state(target, now)
            self._save(row, core, [transition], now, actor=actor, note=note)
            return transition

    def publish_version(self, version: int) -> None:
        """The version lives in the row every process reads."""

    def snapshot(self, now: float) -> Snapshot:
        row = CircuitBreaker.objects.filter(name=self.name).first()
        if row is None:
            return core_snapshot(BreakerCore())
        return core_snapshot(self._core(row))
