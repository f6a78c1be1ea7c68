"""The breaker's state machine, pure: no clock, no I/O, no locks.

``BreakerCore`` is the single definition of the transition rules. The local store runs
it under a lock, the database store runs it on the row it has locked, and the Redis Lua
script (``redis_store.RECORD_SCRIPT``) mirrors it line by line; the unit tests pin the
rules down with an explicit ``now``.

The window is count-based: a ring of the last ``window_size`` outcomes with running
totals, so recording a call and reading the rates are O(1).
"""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass, field

from reliability.breaker.config import CircuitBreakerConfig
from reliability.breaker.models import BreakerState, TransitionReason

CLOSED = BreakerState.CLOSED.value
OPEN = BreakerState.OPEN.value
HALF_OPEN = BreakerState.HALF_OPEN.value
FORCED_OPEN = BreakerState.FORCED_OPEN.value
DISABLED = BreakerState.DISABLED.value
METRICS_ONLY = BreakerState.METRICS_ONLY.value

OPERATOR_STATES = (CLOSED, FORCED_OPEN, DISABLED, METRICS_ONLY)
# States in which calls run without asking the shared store first.
ADMITTING_STATES = (CLOSED, DISABLED, METRICS_ONLY)

# Outcomes of a finished call.
SUCCESS = "success"
FAILURE = "failure"
IGNORED = "ignored"  # raised something that does not say the remote side is unwell


def _start_tokens() -> None:
    """A fresh prefix and counter: at import, and in every forked child.

    Permit tokens must be unique across processes and hosts (they meet in Redis and in
    the row). This module is imported before Celery's prefork pool or ``gunicorn
    --preload`` forks, so without the reset the children would mint the same tokens.
    """
    global _token_prefix, _token_counter
    _token_prefix = f"{uuid.uuid4().hex[:12]}-{os.getpid()}-"
    _token_counter = itertools.count()


_start_tokens()
os.register_at_fork(after_in_child=_start_tokens)


def new_token() -> str:
    return f"{_token_prefix}{next(_token_counter)}"


@dataclass(frozen=True)
class Transition:
    from_state: str
    to_state: str
    reason: str
    failure_rate: float
    consecutive_failures: int
    open_until: float | None


@dataclass(frozen=True)
class Permit:
    """A half-open trial slot: its token, and the number of the half-open period that gave it."""

    token: str
    period: int


@dataclass(frozen=True)
class Decision:
    """Whether a call may run; ``permit`` is the half-open trial slot it holds, if any."""

    allowed: bool
    state: str
    retry_after: float | None = None
    permit: Permit | None = None
    transitions: tuple[Transition, ...] = ()


@dataclass
class BreakerCore:
    state: str = CLOSED
    open_until: float = 0.0
    # Open time of the current/last opening; doubles on each reopen from HALF_OPEN.
    open_duration: float = 0.0
    consecutive_failures: int = 0
    half_open_successes: int = 0
    ring: bytearray = field(default_factory=bytearray)
    index: int = 0
    total: int = 0
    failures: int = 0
    slow: int = 0
    # half-open trial permits: token -> expiry time
    permits: dict[str, float] = field(default_factory=dict)
    # Numbers the half-open periods, so that a trial's outcome is told from one of an
    # earlier period even after its permit lapsed.
    half_open_period: int = 0

    # --- reading -------------------------------------------------------------------

    @property
    def failure_rate(self) -> float:
        return self.failures / self.total if self.total else 0.0

    @property
    def slow_rate(self) -> float:
        return self.slow / self.total if self.total else 0.0

    def retry_after(self, now: float) -> float | None:
        if self.state == OPEN:
            return max(0.0, self.open_until - now)
        if self.state == HALF_OPEN and self.permits:
            return max(0.0, min(self.permits.values()) - now)
        return None

    # --- changing ------------------------------------------------------------------

    def clear_window(self, size: int | None = None) -> None:
        self.ring = bytearray(size if size is not None else len(self.ring))
        self.index = self.total = self.failures = self.slow = 0

    def acquire(self, config: CircuitBreakerConfig, now: float) -> Decision:
        transitions: list[Transition] = []
        if self.state in ADMITTING_STATES:
            return Decision(True, self.state)
        if self.state == FORCED_OPEN:
            return Decision(False, self.state, retry_after=None)
        if self.state == OPEN:
            if now < self.open_until:
                return Decision(False, self.state, retry_after=self.open_until - now)
            transitions.append(self._move(HALF_OPEN, TransitionReason.RECOVERY_TIMEOUT.value))
            self.permits.clear()
            self.half_open_successes = 0
            self.half_open_period += 1
        # HALF_OPEN: admit at most half_open_max_calls trial calls at once. A permit
        # lapses after ``timeout`` so a caller that died cannot hold the slot forever.
        for held, expiry in list(self.permits.items()):
            if expiry <= now:
                del self.permits[held]
        if len(self.permits) < config.half_open_max_calls:
            token = new_token()
            self.permits[token] = now + config.timeout
            permit = Permit(token, self.half_open_period)
            return Decision(True, self.state, permit=permit, transitions=tuple(transitions))
        return Decision(False, self.state, retry_after=self.retry_after(now), transitions=tuple(transitions))

    def record(
        self, config: CircuitBreakerConfig, now: float, outcome: str, slow: bool, permit: Permit | None
    ) -> Transition | None:
        """Count a finished call and make the transition it causes, if any."""
        state = self.state
        if state == HALF_OPEN:
            # Only the trial calls this half-open period admitted may decide it; a call
            # admitted before the breaker opened, or in an earlier period, is not evidence.
            if permit is None or permit.period != self.half_open_period:
                return None
            held = self.permits.pop(permit.token, None) is not None
            if outcome == IGNORED:
                return None
            if outcome == FAILURE:
                # Even when its permit lapsed and another caller took the slot: any
                # failure of this period's trials reopens the breaker (DESIGN 4).
                duration = min(max(self.open_duration, config.recovery_timeout) * 2, config.max_recovery_timeout)
                return self._open(now, duration, TransitionReason.HALF_OPEN_FAILURE.value)
            if not held:
                return None  # its slot was given away, so it no longer counts as a trial
            self.half_open_successes += 1
            if self.half_open_successes >= config.success_threshold:
                self.clear_window()
                self.consecutive_failures = 0
                self.open_duration = 0.0
                self.open_until = 0.0
                self.permits.clear()
                return self._move(CLOSED, TransitionReason.HALF_OPEN_SUCCESS.value)
            return None
        if (state != CLOSED and state != METRICS_ONLY) or outcome == IGNORED:
            return None
        ring = self.ring
        if len(ring) != config.window_size:
            self.clear_window(config.window_size)
            ring = self.ring
        failed = outcome == FAILURE
        # Push into the ring, taking the outcome that falls out off the running totals.
        index = self.index
        old = ring[index]
        if old:
            self.total -= 1
            self.failures -= (old - 1) & 1
            self.slow -= (old - 1) >> 1
        ring[index] = 1 + failed + 2 * slow
        self.total += 1
        if failed:
            self.failures += 1
            self.consecutive_failures += 1
        else:
            self.consecutive_failures = 0
        if slow:
            self.slow += 1
        self.index = index + 1 if index + 1 < len(ring) else 0
        if state != CLOSED:
            return None
        if failed and self.consecutive_failures >= config.failure_threshold:
            return self._open(now, config.recovery_timeout, TransitionReason.CONSECUTIVE_FAILURES.value)
        if self.total >= config.minimum_requests:
            if self.failures >= config.failure_rate_threshold * self.total:
                return self._open(now, config.recovery_timeout, TransitionReason.FAILURE_RATE.value)
            if config.slow_call_threshold is not None and self.slow >= config.slow_call_rate_threshold * self.total:
                return self._open(now, config.recovery_timeout, TransitionReason.SLOW_CALLS.value)
        return None

    def set_state(self, target: str, now: float) -> Transition:
        """An operator's change. CLOSED is a full reset: empty window, first open time again."""
        if target not in OPERATOR_STATES:
            raise ValueError(f"operators cannot set {target!r}")
        self.permits.clear()
        self.half_open_successes = 0
        self.open_until = 0.0
        if target == CLOSED:
            self.clear_window()
            self.consecutive_failures = 0
            self.open_duration = 0.0
        return self._move(target, TransitionReason.OPERATOR.value)

    def _open(self, now: float, duration: float, reason: str) -> Transition:
        self.open_duration = duration
        self.open_until = now + duration
        self.permits.clear()
        self.half_open_successes = 0
        return self._move(OPEN, reason)

    def _move(self, target: str, reason: str) -> Transition:
        previous, self.state = self.state, target
        return Transition(
            from_state=previous,
            to_state=target,
            reason=reason,
            failure_rate=self.failure_rate,
            consecutive_failures=self.consecutive_failures,
            open_until=self.open_until if target == OPEN else None,
        )

    # --- serialisation for the database store --------------------------------------

    def to_data(self) -> dict:
        return {
            "open_duration": self.open_duration,
            "half_open_successes": self.half_open_successes,
            "ring": self.ring.hex(),
            "index": self.index,
            "total": self.total,
            "failures": self.failures,
            "slow": self.slow,
            "permits": self.permits,
            "half_open_period": self.half_open_period,
        }

    @classmethod
    def from_data(cls, *, state: str, open_until: float, consecutive_failures: int, data: dict) -> BreakerCore:
        return cls(
            state=state,
            open_until=open_until,
            consecutive_failures=consecutive_failures,
            open_duration=float(data.get("open_duration", 0.0)),
            half_open_successes=int(data.get("half_open_successes", 0)),
            ring=bytearray.fromhex(data.get("ring", "")),
            index=int(data.get("index", 0)),
            total=int(data.get("total", 0)),
            failures=int(data.get("failures", 0)),
            slow=int(data.get("slow", 0)),
            permits={str(k): float(v) for k, v in data.get("permits", {}).items()},
            half_open_period=int(data.get("half_open_period", 0)),
        )
