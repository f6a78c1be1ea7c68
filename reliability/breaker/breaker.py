"""The runtime breaker: ``get_circuit_breaker(name)``, ``cb.call(fn, ...)``, ``@cb``.

A call asks the store for permission, runs, and reports its outcome; the store applies
the rules of ``state.BreakerCore``. Transitions are logged, counted and written to the
database here (the database store writes them itself, in its own transaction).
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import threading
import time
from collections.abc import Callable
from types import FunctionType
from typing import Any

import requests
import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError

from reliability.breaker import metrics
from reliability.breaker.config import CircuitBreakerConfig, base_config, effective_config
from reliability.breaker.models import BreakerState
from reliability.breaker.persistence import (
    bump_version,
    latest_operator_transition,
    load_row,
    persist_transitions,
    publish_version,
    published_version,
)
from reliability.breaker.state import (
    CLOSED,
    FAILURE,
    FORCED_OPEN,
    IGNORED,
    OPEN,
    OPERATOR_STATES,
    SUCCESS,
    Decision,
    Transition,
)
from reliability.breaker.stores import DatabaseStore, LocalStore, Snapshot
from reliability.errors import CircuitOpenError

logger = structlog.get_logger(__name__)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# How often a per-process breaker looks for an operator's change.
VERSION_POLL_INTERVAL = 1.0

_EVENTS = {
    BreakerState.OPEN.value: "circuit_breaker_opened",
    BreakerState.HALF_OPEN.value: "circuit_breaker_half_opened",
    BreakerState.CLOSED.value: "circuit_breaker_closed",
    BreakerState.FORCED_OPEN.value: "circuit_breaker_forced_open",
    BreakerState.DISABLED.value: "circuit_breaker_disabled",
    BreakerState.METRICS_ONLY.value: "circuit_breaker_metrics_only",
}


def counts_as_failure(exc: BaseException, config: CircuitBreakerConfig) -> bool:
    """Does ``exc`` say the remote side is unwell? Our own bad requests do not count."""
    if config.is_failure is not None:
        return bool(config.is_failure(exc))
    if isinstance(exc, config.ignored_exceptions):
        return False
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        return status >= 500 or status == 429
    return isinstance(exc, config.failure_exceptions)


def select_store(name: str, config: CircuitBreakerConfig) -> Any:
    """Shared scope: Redis when configured, else the database row; local scope: this process.

    The database's own breaker never keeps its state in the database it guards.
    """
    if config.scope == "local":
        return LocalStore(name, config)
    if settings.REDIS_URL:
        from reliability.breaker.redis_store import RedisStore

        return RedisStore(name, config)
    if name == "database":
        return LocalStore(name, config)
    return DatabaseStore(name, config)


class CircuitBreaker:
    """One named breaker in this process; its state lives in ``store``."""

    def __init__(
        self,
        name: str,
        config: CircuitBreakerConfig | None = None,
        *,
        store: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not NAME_PATTERN.match(name):
            raise ValueError(f"breaker name {name!r} must be 1-64 letters, digits, '-' or '_'")
        self.name = name
        self.base_config = (config or base_config(name)).validate()
        self.config = self.base_config
        self.config_version = 0
        self.clock = clock
        self.store = store if store is not None else select_store(name, self.base_config)
        # Clock time of the next _check(); infinite for a shared store that loaded fine.
        self._next_check = 0.0
        self._needs_reload = False
        self._applied_operator_id = 0
        self._loaded = False
        self._lock = threading.Lock()
        self._outcome_counters = {
            outcome: metrics.requests_total.labels(name, outcome) for outcome in (SUCCESS, FAILURE, IGNORED)
        }
        self._success_counter = self._outcome_counters[SUCCESS]
        self._rejected_counter = metrics.requests_total.labels(name, "rejected")
        self._failure_counter = metrics.failures_total.labels(name)
        self._response_time = metrics.response_time.labels(name)
        self.reload()

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name} {self.store.kind}>"

    # --- configuration and operator changes -------------------------------------------

    def reload(self) -> None:
        """Read the row's overrides (and, for a per-process state, the last operator order)."""
        try:
            row = load_row(self.name)
            operator = latest_operator_transition(row) if row is not None and self.store.kind == "local" else None
        except (DatabaseError, SynchronousOnlyOperation) as exc:
            # Keep the current config; the next synchronous call tries again, and after
            # that _check() once per VERSION_POLL_INTERVAL.
            logger.warning("circuit_breaker_config_unavailable", name=self.name, error=exc.__class__.__name__)
            self._needs_reload = True
            self._next_check = -math.inf
            return
        self._needs_reload = False
        with self._lock:
            self.config = effective_config(self.base_config, row)
            self.store.configure(self.config)
            version = row.config_version if row is not None else 0
            self.config_version = max(version, self.store.remote_version)
            first_load, self._loaded = not self._loaded, True
            if operator is not None and operator.id > self._applied_operator_id:
                self._applied_operator_id = operator.id
                # A new process obeys standing orders (forced open, disabled, metrics
                # only); a running one also obeys a reset given since it last looked.
                if not first_load or operator.to_state != CLOSED:
                    self.store.set_state(operator.to_state, self.clock(), self.config_version)
        self._next_check = self.clock() + VERSION_POLL_INTERVAL if self.store.kind == "local" else math.inf

    def set_base_config(self, config: CircuitBreakerConfig) -> None:
        self.base_config = config.validate()
        self.reload()

    def set_state(self, target: str, *, actor: Any = None, note: str = "") -> Transition:
        """Apply an operator's order here and in every process (through the version bump)."""
        if target not in OPERATOR_STATES:
            raise ValueError(f"operators cannot set {target!r}")
        version = bump_version(self.name)
        transition = self.store.set_state(target, self.clock(), version, actor=actor, note=note)
        if not self.store.persists_transitions:
            persist_transitions(self.name, [transition], actor=actor, note=note)
        self.publish(version)
        self._log_transitions([transition])
        if self.store.kind == "local":
            self.reload()
        return transition

    def publish(self, version: int) -> None:
        """Make every process notice a new ``config_version`` within about a second."""
        self.store.publish_version(version)
        publish_version(self.name, version)
        self.config_version = max(self.config_version, version)

    def reset(self) -> Transition:
        """Close the breaker and empty its window, in every process (seed API).

        Audited like the operator doors (channel ``code``); raises ``UnknownBreaker`` for a
        breaker that is neither configured nor stored.
        """
        from reliability.breaker.services import breaker_reset_from_code  # services import this module

        return breaker_reset_from_code(breaker=self)

    # --- reading ------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        now = self.clock()
        if now >= self._next_check:
            self._check(now)
        return BreakerState(self.store.current_state(now))

    def snapshot(self) -> Snapshot:
        return self.store.snapshot(self.clock())

    # --- calling ------------------------------------------------------------------------

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator form: ``@cb`` wraps a function or a coroutine function."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self._call_async(fn, args, kwargs, None)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return self._call_sync(fn, args, kwargs, None)

        return wrapper

    def call(
        self, fn: Callable[..., Any], *args: Any, fallback: Callable[..., Any] | None = None, **kwargs: Any
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` through the breaker; for a coroutine function, return an awaitable.

        When the breaker rejects the call, ``fallback(*args, **kwargs)`` (or the config's
        fallback) answers instead of raising ``CircuitOpenError``.
        """
        if type(fn) is FunctionType:  # noqa: E721 - exact type: the cheap test for plain functions
            is_coroutine = fn.__code__.co_flags & inspect.CO_COROUTINE
        else:
            is_coroutine = inspect.iscoroutinefunction(fn)
        if is_coroutine:
            return self._call_async(fn, args, kwargs, fallback)
        return self._call_sync(fn, args, kwargs, fallback)

    def _check(self, now: float) -> None:
        """Retry a failed reload; a per-process breaker also polls for operator changes.

        Both happen at most once per ``VERSION_POLL_INTERVAL``: while the database is
        down, a call must not wait for a connection attempt every time.
        """
        if self._needs_reload:
            self.reload()
        elif self.store.kind == "local":
            version = published_version(self.name)
            if version is not None and version > self.config_version:
                self.reload()
        if self._needs_reload or self.store.kind == "local":
            self._next_check = now + VERSION_POLL_INTERVAL
        else:
            self._next_check = math.inf

    def _acquire(self, now: float) -> Decision:
        if now >= self._next_check:
            self._check(now)
        decision = self.store.acquire(now)
        if decision.transitions:
            self._after(list(decision.transitions))
        return decision

    def _finish(self, decision: Decision, outcome: str, started: float, ended: float) -> tuple[str, bool]:
        duration = ended - started
        config = self.config
        # Past ``timeout`` a call is a failure, and only that: "slow" is past the slow
        # threshold but within ``timeout`` (DESIGN 4), so it is not counted twice.
        if duration > config.timeout:
            slow = False
            if outcome == SUCCESS:
                outcome = FAILURE
        else:
            slow = config.slow_call_threshold is not None and duration > config.slow_call_threshold
        self._outcome_counters[outcome].inc()
        if outcome == FAILURE:
            self._failure_counter.inc()
        self._response_time.observe(duration)
        return outcome, slow

    def _after(self, transitions: list[Transition]) -> None:
        if not self.store.persists_transitions:
            persist_transitions(self.name, transitions)
        self._log_transitions(transitions)

    def _log_transitions(self, transitions: list[Transition]) -> None:
        for item in transitions:
            log = logger.warning if item.to_state in (OPEN, FORCED_OPEN) else logger.info
            log(
                _EVENTS[item.to_state],
                name=self.name,
                from_state=item.from_state,
                reason=item.reason,
                failure_rate=round(item.failure_rate, 4),
                consecutive_failures=item.consecutive_failures,
                retry_after=round(item.open_until - self.clock(), 3) if item.open_until else None,
            )

    def _reject(self, decision: Decision, fallback: Callable[..., Any] | None) -> Callable[..., Any]:
        self._rejected_counter.inc()
        answer = fallback or self.config.fallback
        if answer is None:
            raise CircuitOpenError(self.name, decision.retry_after)
        return answer

    def _call_sync(self, fn: Callable[..., Any], args: tuple, kwargs: dict, fallback: Callable[..., Any] | None) -> Any:
        # The hot path of every protected call, kept flat on purpose: each saved frame
        # shows in bench/breaker.py next to pybreaker.
        clock = self.clock
        store = self.store
        started = clock()
        if started >= self._next_check:
            self._check(started)
        decision = store.acquire(started)
        if decision.transitions:
            self._after(list(decision.transitions))
        if not decision.allowed:
            return self._reject(decision, fallback)(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            ended = clock()
            failed = isinstance(exc, Exception) and counts_as_failure(exc, self.config)
            outcome, slow = self._finish(decision, FAILURE if failed else IGNORED, started, ended)
            self._record(decision, outcome, slow, ended)
            raise
        ended = clock()
        duration = ended - started
        config = self.config
        if duration > config.timeout:
            outcome, slow = self._finish(decision, SUCCESS, started, ended)
            self._record(decision, outcome, slow, ended)
            return result
        self._success_counter.inc()
        self._response_time.observe(duration)
        threshold = config.slow_call_threshold
        transitions = store.record(decision, SUCCESS, threshold is not None and duration > threshold, ended)
        if transitions:
            self._after(list(transitions))
        if store.remote_version > self.config_version and not self._needs_reload:
            self.reload()
        return result

    def _record(self, decision: Decision, outcome: str, slow: bool, now: float) -> None:
        store = self.store
        transitions = store.record(decision, outcome, slow, now)
        if transitions:
            self._after(list(transitions))
        if store.remote_version > self.config_version and not self._needs_reload:
            self.reload()  # a pending retry (``_check``) reads the new version too

    async def _call_async(
        self, fn: Callable[..., Any], args: tuple, kwargs: dict, fallback: Callable[..., Any] | None
    ) -> Any:
        # Store work that may touch the database or Redis runs in Django's sync thread,
        # never blocking the event loop with a query; cached decisions stay inline.
        clock = self.clock
        started = clock()
        decision = None
        if started < self._next_check:
            decision = self.store.acquire_cached(started)
        if decision is None:
            decision = await sync_to_async(self._acquire)(started)
        elif decision.transitions:
            await sync_to_async(self._after)(list(decision.transitions))
        if not decision.allowed:
            answer = self._reject(decision, fallback)
            result = answer(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            ended = clock()
            failed = isinstance(exc, Exception) and counts_as_failure(exc, self.config)
            outcome, slow = self._finish(decision, FAILURE if failed else IGNORED, started, ended)
            await self._record_async(decision, outcome, slow, ended)
            raise
        ended = clock()
        outcome, slow = self._finish(decision, SUCCESS, started, ended)
        await self._record_async(decision, outcome, slow, ended)
        return result

    async def _record_async(self, decision: Decision, outcome: str, slow: bool, now: float) -> None:
        if self.store.io_free:
            transitions = self.store.record(decision, outcome, slow, now)
            if transitions:
                await sync_to_async(self._after)(transitions)
            return
        if self.store.record_needs_io(decision, outcome):
            await sync_to_async(self._record)(decision, outcome, slow, now)


_registry: dict[str, CircuitBreaker] = {}
_registry_lock = threading.Lock()


def get_circuit_breaker(name: str, config: CircuitBreakerConfig | None = None) -> CircuitBreaker:
    """The process's breaker called ``name`` (seed API), created on first use.

    Without ``config`` it takes ``settings.CIRCUIT_BREAKER_CONFIGS[name]``; a ``config``
    given here replaces that base. Admin overrides apply on top either way.
    """
    breaker = _registry.get(name)
    if breaker is None:
        with _registry_lock:
            breaker = _registry.get(name)
            if breaker is None:
                breaker = _registry[name] = CircuitBreaker(name, config)
                return breaker
    if config is not None and config != breaker.base_config:
        breaker.set_base_config(config)
    return breaker


def breakers_on_local_state() -> dict[str, float]:
    """Breakers of this process that run on a per-process state because Redis is down,
    with the wall-clock time that began (for ``/health/detailed``)."""
    return {
        name: since
        for name, breaker in list(_registry.items())
        if (since := getattr(breaker.store, "local_since", None)) is not None
    }


def forget_circuit_breakers() -> None:
    """Drop every breaker of this process (tests; a process that changed REDIS_URL)."""
    with _registry_lock:
        _registry.clear()
