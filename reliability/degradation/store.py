"""Where the state is shared: Redis when configured, the ``DegradationState`` row always.

Writers (the monitor, the operator doors) save the row and then publish the same state
to Redis with a version check, so a slow writer cannot put an older state back. Readers
take Redis first and the row when Redis does not answer or has lost the key (it is put
back from the row). The Redis copy expires after ``STATE_TTL`` seconds: the monitor
publishes on every run, so a copy that nobody refreshes (a Redis that came back with old
data) cannot outlive the row for long.

``LevelView`` is each process's copy for the hot path (``allows()``): it asks the shared
store at most once per ``REFRESH_INTERVAL`` and answers from memory in between. When
neither Redis nor the database answers it keeps the last known state and says it is stale.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable

import redis
import structlog
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError, IntegrityError

from reliability.degradation.models import STATE_PK, DegradationState
from reliability.degradation.state import OPERATOR, LevelState, to_datetime, to_epoch

logger = structlog.get_logger(__name__)

STATE_KEY = "degradation:{state}"
STATE_TTL = 300
REFRESH_INTERVAL = 1.0
# A handful of connections is plenty: a process reads once a second and writes rarely.
REDIS_MAX_CONNECTIONS = 2
REDIS_TIMEOUT = 0.5
REDIS_CLIENT_NAME = "reliability-degradation"

# KEYS[1] the hash; ARGV: version, state JSON, ttl. Replaces the copy unless it is newer.
PUBLISH_SCRIPT = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '-1')
if tonumber(ARGV[1]) < current then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 's', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""

_client: redis.Redis | None = None
_client_lock = threading.Lock()
_publish: object | None = None


def redis_client() -> redis.Redis:
    """This process's client for the degradation state: a bounded pool with short timeouts."""
    global _client, _publish
    with _client_lock:
        if _client is None:
            pool = redis.BlockingConnectionPool.from_url(
                settings.REDIS_URL,
                max_connections=REDIS_MAX_CONNECTIONS,
                timeout=REDIS_TIMEOUT,
                client_name=REDIS_CLIENT_NAME,
                decode_responses=True,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
            )
            _client = redis.Redis(connection_pool=pool)
            _publish = _client.register_script(PUBLISH_SCRIPT)
        return _client


# --- the row ---------------------------------------------------------------------------------


def state_row(*, lock: bool = False) -> DegradationState:
    """The one state row (created on first use); ``lock`` takes it ``FOR UPDATE``."""
    try:
        row, _ = DegradationState.objects.get_or_create(pk=STATE_PK)
    except IntegrityError:  # created by another process between the get and the create
        row = DegradationState.objects.get(pk=STATE_PK)
    if lock:
        row = DegradationState.objects.select_for_update().get(pk=STATE_PK)
    return row


def state_from_row(row: DegradationState) -> LevelState:
    return LevelState(
        level=row.level,
        source=row.source,
        reason=row.reason,
        since=to_epoch(row.since),
        set_by=row.set_by,
        expires_at=to_epoch(row.expires_at),
        auto_level=row.auto_level,
        auto_reason=row.auto_reason,
        step_down_level=row.step_down_level,
        step_down_since=to_epoch(row.step_down_since),
        conditions=row.conditions or {},
        evaluated_at=to_epoch(row.evaluated_at),
        read_only=row.read_only,
        version=row.version,
    )


def row_apply(row: DegradationState, state: LevelState) -> None:
    """Copy ``state`` onto ``row`` and save it (inside the caller's transaction)."""
    row.level = state.level
    row.source = state.source
    row.reason = state.reason
    row.since = to_datetime(state.since)
    row.set_by = state.set_by
    row.expires_at = to_datetime(state.expires_at)
    row.auto_level = state.auto_level
    row.auto_reason = state.auto_reason
    row.step_down_level = state.step_down_level
    row.step_down_since = to_datetime(state.step_down_since)
    row.conditions = state.conditions
    row.evaluated_at = to_datetime(state.evaluated_at)
    row.read_only = state.read_only
    row.version = state.version
    row.save()


# --- Redis -----------------------------------------------------------------------------------


def redis_state_read() -> LevelState | None:
    """The Redis copy, or None when the key is gone. Raises ``RedisError`` when Redis is down."""
    raw = redis_client().hget(STATE_KEY, "s")
    return LevelState.from_json(json.loads(raw)) if raw else None


def state_publish(state: LevelState) -> bool:
    """Put ``state`` in Redis unless a newer version is there; False when Redis is not
    configured or did not answer (readers then use the row)."""
    if not settings.REDIS_URL:
        return False
    try:
        redis_client()
        _publish(keys=[STATE_KEY], args=[state.version, json.dumps(state.as_json()), STATE_TTL])
    except redis.RedisError as exc:
        logger.warning("degradation_state_publish_failed", error_class=type(exc).__name__)
        return False
    return True


def state_read_shared() -> tuple[LevelState | None, bool]:
    """The shared state and whether a store answered: Redis, else the row (put back into
    Redis when Redis has lost it). ``(None, False)`` when neither can be read."""
    if settings.REDIS_URL:
        try:
            state = redis_state_read()
        except (redis.RedisError, ValueError) as exc:
            logger.debug("degradation_state_redis_unreadable", error_class=type(exc).__name__)
        else:
            if state is not None:
                return state, True
            state = _row_state_or_none()
            if state is not None:
                state_publish(state)
            return state, state is not None
    state = _row_state_or_none()
    return state, state is not None


def _row_state_or_none() -> LevelState | None:
    try:
        row = DegradationState.objects.filter(pk=STATE_PK).first()
    except (DatabaseError, SynchronousOnlyOperation) as exc:
        logger.debug("degradation_state_row_unreadable", error_class=type(exc).__name__)
        return None
    return state_from_row(row) if row is not None else LevelState()


# --- the per-process copy ---------------------------------------------------------------------


class LevelView:
    """This process's copy of the shared state, refreshed at most every ``REFRESH_INTERVAL``.

    ``level()`` is the hot path: one clock read and two comparisons on a cache hit. An
    override's expiry is turned into a monotonic deadline when the copy is taken, so a
    read after the expiry answers the automatic level without asking anyone.
    """

    def __init__(
        self,
        *,
        read: Callable[[], tuple[LevelState | None, bool]] = state_read_shared,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        refresh_interval: float = REFRESH_INTERVAL,
    ) -> None:
        self._read = read
        self._monotonic = monotonic
        self._wall = wall
        self.refresh_interval = refresh_interval
        self._lock = threading.Lock()
        self.forget()

    def forget(self) -> None:
        """Drop the copy: the next read asks the shared store (tests; a fork)."""
        self.state = LevelState()
        self.stale = False  # True once a refresh found neither store answering
        self.refreshed_at: float | None = None
        self._level = int(self.state.level)
        self._switch_at = math.inf
        self._after_switch = self._level
        self._fresh_until = -math.inf

    def level(self) -> int:
        now = self._monotonic()
        if now >= self._fresh_until:
            self._refresh(now)
        if now >= self._switch_at:
            return self._after_switch
        return self._level

    def read_only(self) -> bool:
        now = self._monotonic()
        if now >= self._fresh_until:
            self._refresh(now)
        return self.state.read_only

    def refresh(self) -> None:
        """Read the shared store now, whatever the copy's age (``allows_now``): one round trip."""
        self._refresh(self._monotonic())

    def current(self) -> LevelState:
        """The copy as of now, an expired override already given way to the rules."""
        self.level()
        return self.state.effective(self._wall())

    def remember(self, state: LevelState) -> None:
        """Take a state this process just wrote, without waiting for the next refresh."""
        now = self._monotonic()
        if state.version >= self.state.version:
            self._apply(state, now)
        self.stale = False
        self._fresh_until = now + self.refresh_interval

    def _refresh(self, now: float) -> None:
        # One thread asks; the others answer from the copy meanwhile instead of queueing.
        if not self._lock.acquire(blocking=False):
            return
        try:
            state, answered = self._read()
            if state is not None:
                self._apply(state, now)
            if self.stale != (not answered):
                log = logger.warning if not answered else logger.info
                log("degradation_state_stale" if not answered else "degradation_state_readable_again")
            self.stale = not answered
            self.refreshed_at = self._wall() if answered else self.refreshed_at
            self._fresh_until = self._monotonic() + self.refresh_interval
        finally:
            self._lock.release()

    def _apply(self, state: LevelState, now: float) -> None:
        self.state = state
        if state.source == OPERATOR and state.expires_at is not None:
            self._after_switch = int(state.auto_level)
            self._switch_at = now + (state.expires_at - self._wall())
        else:
            self._switch_at = math.inf
        self._level = int(state.level)


view = LevelView()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork time would stay held in the child forever.
    view._lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
