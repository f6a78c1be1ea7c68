"""The Redis store: every process on every host shares one breaker state.

Recording an outcome, checking the thresholds and making the transition happen in one
Lua script, so one call costs one round trip and no two processes can both act on a
stale read (pybreaker and purgatory read, modify and write back, and overshoot). The
scripts mirror ``state.BreakerCore`` rule for rule.

Keys per breaker (hash-tagged so a cluster keeps them on one slot):
``cb:{name}`` hash of the state and running totals, ``cb:{name}:ring`` the window (one
byte per call), ``cb:{name}:permits`` half-open permits (token -> expiry).

When the hash is missing (Redis restarted or flushed) the store seeds it from the
database row; an OPEN whose time is up goes half-open as usual, so nothing stays open.
If Redis cannot be reached, the breaker runs on a per-process state until it can.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from typing import Any

import redis
import structlog
from django.conf import settings
from django.db import DatabaseError

from reliability.breaker import metrics
from reliability.breaker.config import CircuitBreakerConfig
from reliability.breaker.connections import BoundedConnections
from reliability.breaker.models import TransitionReason
from reliability.breaker.persistence import load_row, persist_transitions, to_timestamp
from reliability.breaker.state import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    Decision,
    Permit,
    Transition,
    new_token,
)
from reliability.breaker.stores import REFRESH_INTERVAL, CachedSharedStore, LocalStore, Snapshot

logger = structlog.get_logger(__name__)

# Replies with one space-separated string (one bulk string parses much faster than an
# array): "state open_until config_version[ from_state reason failure_rate
# consecutive_failures]", the last four only with a transition; "" means the keys are
# gone and the caller must seed them. ARGV: now, outcome (s/f/i), slow (1/0), permit
# token and half-open period ("" when the call held none), then the thresholds in the
# order of RedisStore.configure.
RECORD_SCRIPT = """
local h, ring, pk = KEYS[1], KEYS[2], KEYS[3]
local v = redis.call('HMGET', h, 'st', 'ou', 'od', 'cf', 'hs', 'ix', 'tot', 'fl', 'sl', 'ws', 'cv', 'hp')
local st = v[1]
if not st then return '' end
local now = tonumber(ARGV[1])
local outcome = ARGV[2]
local unchanged = st .. ' ' .. (v[2] or '0') .. ' ' .. (v[11] or '0')
local function opened(duration, why, fl, tot, cf)
  local ou = now + duration
  redis.call('DEL', pk)
  redis.call('HSET', h, 'st', 'open', 'ou', ou, 'od', duration, 'hs', 0)
  local rate = 0
  if tot > 0 then rate = fl / tot end
  local fmt = '%.17g'
  return table.concat({'open', string.format(fmt, ou), v[11] or '0', st, why, string.format(fmt, rate), cf}, ' ')
end
if st == 'half_open' then
  if ARGV[4] == '' or ARGV[5] ~= (v[12] or '0') then return unchanged end
  local held = redis.call('HDEL', pk, ARGV[4])
  if outcome == 'i' then return unchanged end
  local tot, fl, cf = tonumber(v[7]) or 0, tonumber(v[8]) or 0, tonumber(v[4]) or 0
  if outcome == 'f' then
    local d = math.max(tonumber(v[3]) or 0, tonumber(ARGV[10])) * 2
    local cap = tonumber(ARGV[11])
    if d > cap then d = cap end
    return opened(d, 'half_open_failure', fl, tot, cf)
  end
  if held == 0 then return unchanged end
  local hs = (tonumber(v[5]) or 0) + 1
  if hs >= tonumber(ARGV[12]) then
    redis.call('DEL', ring, pk)
    redis.call('HSET', h, 'st', 'closed', 'ou', 0, 'od', 0, 'cf', 0, 'hs', 0, 'ix', 0, 'tot', 0, 'fl', 0, 'sl', 0)
    return table.concat({'closed', '0', v[11] or '0', st, 'half_open_success', '0', '0'}, ' ')
  end
  redis.call('HSET', h, 'hs', hs)
  return unchanged
end
if (st ~= 'closed' and st ~= 'metrics_only') or outcome == 'i' then return unchanged end
local ws = tonumber(ARGV[9])
local ix, tot, fl, sl = tonumber(v[6]) or 0, tonumber(v[7]) or 0, tonumber(v[8]) or 0, tonumber(v[9]) or 0
local cf = tonumber(v[4]) or 0
if tonumber(v[10]) ~= ws then
  redis.call('DEL', ring)
  ix, tot, fl, sl = 0, 0, 0, 0
  redis.call('HSET', h, 'ws', ws)
end
local failed, slow = 0, tonumber(ARGV[3])
if outcome == 'f' then failed = 1 end
local old = string.byte(redis.call('GETRANGE', ring, ix, ix)) or 0
if old > 0 then
  tot = tot - 1
  fl = fl - (old - 1) % 2
  sl = sl - math.floor((old - 1) / 2)
end
redis.call('SETRANGE', ring, ix, string.char(1 + failed + 2 * slow))
tot, fl, sl = tot + 1, fl + failed, sl + slow
ix = (ix + 1) % ws
if failed == 1 then cf = cf + 1 else cf = 0 end
redis.call('HSET', h, 'ix', ix, 'tot', tot, 'fl', fl, 'sl', sl, 'cf', cf)
if st == 'closed' then
  local recovery = tonumber(ARGV[10])
  if failed == 1 and cf >= tonumber(ARGV[6]) then
    return opened(recovery, 'consecutive_failures', fl, tot, cf)
  elseif tot >= tonumber(ARGV[8]) then
    if fl >= tonumber(ARGV[7]) * tot then
      return opened(recovery, 'failure_rate', fl, tot, cf)
    elseif ARGV[13] == '1' and sl >= tonumber(ARGV[14]) * tot then
      return opened(recovery, 'slow_calls', fl, tot, cf)
    end
  end
end
return unchanged
"""

# Replies "state open_until config_version allowed permit_or_retry_after from_state reason
# failure_rate consecutive_failures half_open_period" (empty fields stay empty), or "" when
# the keys are gone.
ACQUIRE_SCRIPT = """
local h, pk = KEYS[1], KEYS[2]
local v = redis.call('HMGET', h, 'st', 'ou', 'cv', 'fl', 'tot', 'cf', 'hp')
local st = v[1]
if not st then return '' end
local now = tonumber(ARGV[1])
local ou = tonumber(v[2]) or 0
local cv = v[3] or '0'
local hp = v[7] or '0'
local tot = tonumber(v[5]) or 0
local rate = 0
if tot > 0 then rate = (tonumber(v[4]) or 0) / tot end
local from, reason = '', ''
if st == 'open' and now >= ou then
  from, reason, st = 'open', 'recovery_timeout', 'half_open'
  redis.call('DEL', pk)
  hp = tostring(redis.call('HINCRBY', h, 'hp', 1))
  redis.call('HSET', h, 'st', st, 'hs', 0)
end
local function reply(allowed, extra)
  local fmt = '%.17g'
  return table.concat({st, string.format(fmt, ou), cv, allowed, extra, from, reason, string.format(fmt, rate),
    v[6] or '0', hp}, ' ')
end
if st == 'half_open' then
  local held = redis.call('HGETALL', pk)
  local count, earliest = 0, nil
  for i = 1, #held, 2 do
    local expiry = tonumber(held[i + 1])
    if expiry <= now then
      redis.call('HDEL', pk, held[i])
    else
      count = count + 1
      if earliest == nil or expiry < earliest then earliest = expiry end
    end
  end
  if count < tonumber(ARGV[3]) then
    redis.call('HSET', pk, ARGV[2], now + tonumber(ARGV[4]))
    return reply(1, ARGV[2])
  end
  return reply(0, string.format('%.17g', earliest - now))
end
if st == 'open' then return reply(0, string.format('%.17g', ou - now)) end
if st == 'forced_open' then return reply(0, '') end
return reply(1, '')
"""

# An operator's change; CLOSED is a full reset. Replies {previous_state, failure_rate, consecutive_failures}.
SET_STATE_SCRIPT = """
local h, ring, pk = KEYS[1], KEYS[2], KEYS[3]
local v = redis.call('HMGET', h, 'st', 'fl', 'tot', 'cf')
local prev = v[1] or 'closed'
local tot = tonumber(v[3]) or 0
local rate = 0
if tot > 0 then rate = (tonumber(v[2]) or 0) / tot end
local cf = tonumber(v[4]) or 0
redis.call('DEL', pk)
if ARGV[1] == 'closed' then
  redis.call('DEL', ring)
  redis.call('HSET', h, 'st', 'closed', 'ou', 0, 'od', 0, 'cf', 0, 'hs', 0,
    'ix', 0, 'tot', 0, 'fl', 0, 'sl', 0, 'ws', 0)
  rate, cf = 0, 0
else
  redis.call('HSET', h, 'st', ARGV[1], 'ou', 0, 'hs', 0)
end
redis.call('HSET', h, 'cv', ARGV[2])
return {prev, string.format('%.17g', rate), cf}
"""

# Recreate lost keys from the database row, unless another process already did.
SEED_SCRIPT = """
if redis.call('HEXISTS', KEYS[1], 'st') == 1 then return 0 end
local cv = math.max(tonumber(redis.call('HGET', KEYS[1], 'cv')) or 0, tonumber(ARGV[5]))
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'st', ARGV[1], 'ou', ARGV[2], 'od', ARGV[3], 'cf', ARGV[4], 'cv', cv, 'hs', 0,
  'ix', 0, 'tot', 0, 'fl', 0, 'sl', 0, 'ws', 0)
return 1
"""

# All breakers and threads of a process share at most this many Redis connections, for
# every command they send. A call holds one for a single round trip (about 0.1 ms), so
# ten serve hundreds of threads; a thread that finds them all busy waits for one.
REDIS_MAX_CONNECTIONS = 10
# A wait longer than the socket timeout means Redis is not answering in time: the call
# then falls back to the per-process state like in any Redis outage.
REDIS_POOL_WAIT = 1.0
REDIS_CLIENT_NAME = "reliability-breakers"  # how CLIENT LIST shows these connections

_connections: BoundedConnections | None = None
_connections_lock = threading.Lock()


def breaker_connections() -> BoundedConnections:
    """The process's bounded Redis connections, shared by all breakers (a forked child gets its own)."""
    global _connections
    with _connections_lock:
        if _connections is None:
            _connections = BoundedConnections.from_url(
                settings.REDIS_URL,
                max_connections=REDIS_MAX_CONNECTIONS,
                wait=REDIS_POOL_WAIT,
                client_name=REDIS_CLIENT_NAME,
                decode_responses=True,
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
            )
        return _connections


def _float(value: str) -> float:
    return float(value) if value else 0.0


class _Script:
    """EVALSHA, and SCRIPT LOAD when Redis does not know the script (first use, restart, SCRIPT FLUSH).

    Each is one command on one of the bounded connections, so a call never holds two.
    A failure surfaces at once, for the breaker to fall back on.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, connections: BoundedConnections, keys: tuple[Any, ...], args: tuple[Any, ...]) -> Any:
        try:
            return connections.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            connections.execute("SCRIPT", "LOAD", self.source)
            return connections.execute("EVALSHA", self.sha, len(keys), *keys, *args)


_record = _Script(RECORD_SCRIPT)
_acquire = _Script(ACQUIRE_SCRIPT)
_set_state = _Script(SET_STATE_SCRIPT)
_seed = _Script(SEED_SCRIPT)

_OUTCOME_ARG = {"success": b"s", "failure": b"f", "ignored": b"i"}


class RedisStore(CachedSharedStore):
    kind = "redis"
    persists_transitions = False

    def __init__(self, name: str, config: CircuitBreakerConfig, connections: BoundedConnections | None = None) -> None:
        super().__init__(name, config)
        self.connections = connections or breaker_connections()
        self.keys = (f"cb:{{{name}}}", f"cb:{{{name}}}:ring", f"cb:{{{name}}}:permits")
        self._acquire_keys = (self.keys[0], self.keys[2])
        self._key_bytes = tuple(key.encode() for key in self.keys)
        self._fallback = LocalStore(name, config)
        self._redis_down_until = -math.inf
        # Wall-clock time this process began running the breaker on its own state; None on Redis.
        self.local_since: float | None = None
        self._local_gauge = metrics.local_fallback.labels(name)
        self.configure(config)

    def configure(self, config: CircuitBreakerConfig) -> None:
        self.config = config
        self._fallback.configure(config)
        self._config_args = tuple(
            repr(value).encode()
            for value in (
                config.failure_threshold,
                float(config.failure_rate_threshold),
                config.minimum_requests,
                config.window_size,
                float(config.recovery_timeout),
                float(config.max_recovery_timeout),
                config.success_threshold,
                1 if config.slow_call_threshold is not None else 0,
                float(config.slow_call_rate_threshold),
            )
        )

    # --- the shared side, with the seeding and outage handling around it ------------

    def _hot(self, script: _Script, keys: tuple[Any, ...], args: tuple[Any, ...], now: float) -> list[str]:
        """Run a hot script; when the keys are gone, seed them and run it again."""
        reply = script(self.connections, keys, args)
        if not reply:
            self.seed(now)
            reply = script(self.connections, keys, args)
        return reply.split(" ")

    def _redis_failed(self, exc: Exception, now: float) -> None:
        if now >= self._redis_down_until:
            logger.error("circuit_breaker_redis_unavailable", name=self.name, error=exc.__class__.__name__)
        self._redis_down_until = now + REFRESH_INTERVAL
        if self.local_since is None:
            self.local_since = time.time()
            self._local_gauge.set(1)

    def _redis_answered(self) -> None:
        """Redis is back: the shared state rules again (the per-process one is left behind)."""
        self.local_since = None
        self._local_gauge.set(0)
        logger.info("circuit_breaker_redis_back", name=self.name)

    def remember(self, state: str, open_until: float, version: int, now: float) -> None:
        super().remember(state, open_until, version, now)
        if self.local_since is not None:
            self._redis_answered()

    def seed(self, now: float) -> bool:
        """Rebuild lost keys from the row: its state, reopen time and consecutive failures."""
        state, open_until, open_duration, failures, version = CLOSED, 0.0, 0.0, 0, 0
        row = None
        try:
            row = load_row(self.name)
        except DatabaseError as exc:
            logger.warning("circuit_breaker_row_unavailable", name=self.name, error=exc.__class__.__name__)
        if row is not None:
            state, failures, version = row.state, row.consecutive_failures, row.config_version
            open_until = to_timestamp(row.open_until)
            open_duration = float((row.runtime or {}).get("open_duration", 0.0))
            if state == HALF_OPEN:
                # The trial permits were lost with Redis: probe again from OPEN, now.
                state, open_until = OPEN, now
            if state == OPEN and not open_duration:
                open_duration = self.config.recovery_timeout
        seeded = _seed(self.connections, self.keys, (state, repr(open_until), repr(open_duration), failures, version))
        if seeded and row is not None and row.state != CLOSED:
            logger.warning("circuit_breaker_rebuilt", name=self.name, state=state)
            persist_transitions(
                self.name,
                [Transition(row.state, state, TransitionReason.REBUILT.value, 0.0, failures, open_until or None)],
                note="Redis had lost this breaker's keys; state restored from the database row",
            )
        return bool(seeded)

    def refresh(self, now: float) -> None:
        if now < self._redis_down_until:
            return
        try:
            state, open_until, version = self.connections.execute("HMGET", self.keys[0], "st", "ou", "cv")
            if state is None:
                self.seed(now)
                state, open_until, version = self.connections.execute("HMGET", self.keys[0], "st", "ou", "cv")
        except redis.RedisError as exc:
            self._redis_failed(exc, now)
            return
        self.remember(state or CLOSED, _float(open_until), int(version or 0), now)

    def acquire(self, now: float) -> Decision:
        if now < self._redis_down_until:
            return self._fallback.acquire(now)
        return super().acquire(now)

    def acquire_shared(self, now: float) -> Decision:
        args = (repr(now), new_token(), self.config.half_open_max_calls, repr(float(self.config.timeout)))
        try:
            reply = self._hot(_acquire, self._acquire_keys, args, now)
        except redis.RedisError as exc:
            self._redis_failed(exc, now)
            return self._fallback.acquire(now)
        state, open_until, version, allowed, extra, from_state, reason, rate, failures, period = reply
        self.remember(state, _float(open_until), int(version), now)
        transitions: tuple[Transition, ...] = ()
        if from_state:
            transitions = (Transition(from_state, state, reason, float(rate), int(failures), None),)
        if allowed == "1":
            permit = Permit(extra, int(period)) if extra else None
            return Decision(True, state, permit=permit, transitions=transitions)
        return Decision(False, state, retry_after=float(extra) if extra else None, transitions=transitions)

    def record(self, decision: Decision, outcome: str, slow: bool, now: float) -> list[Transition]:
        if outcome == "ignored" and decision.permit is None:
            return []
        if now < self._redis_down_until:
            return self._fallback.record(decision, outcome, slow, now)
        permit = decision.permit
        trial = (permit.token, str(permit.period)) if permit is not None else (b"", b"")
        args = (repr(now), _OUTCOME_ARG[outcome], b"1" if slow else b"0", *trial, *self._config_args)
        try:
            reply = self._hot(_record, self._key_bytes, args, now)
        except redis.RedisError as exc:
            self._redis_failed(exc, now)
            return self._fallback.record(decision, outcome, slow, now)
        if self.local_since is not None:
            self._redis_answered()
        state, open_until = reply[0], float(reply[1])
        self._state = state
        self._open_until = open_until
        self._checked_at = now
        version = int(reply[2])
        if version > self.remote_version:
            self.remote_version = version
        if len(reply) == 3:
            return []
        _, _, _, from_state, reason, rate, failures = reply
        until = open_until if state == OPEN else None
        return [Transition(from_state, state, reason, float(rate), int(failures), until)]

    def set_state(self, target: str, now: float, version: int, *, actor: Any = None, note: str = "") -> Transition:
        previous, rate, failures = _set_state(self.connections, self.keys, (target, version))
        self.remember(target, 0.0, version, now)
        self._fallback.set_state(target, now, version)
        return Transition(previous, target, TransitionReason.OPERATOR.value, float(rate), int(failures), None)

    def publish_version(self, version: int) -> None:
        self.connections.execute("HSET", self.keys[0], "cv", version)

    def snapshot(self, now: float) -> Snapshot:
        state, open_until, failures, total, failed, slow = self.connections.execute(
            "HMGET", self.keys[0], "st", "ou", "cf", "tot", "fl", "sl"
        )
        if state is None:
            self.seed(now)
            state, open_until, failures, total, failed, slow = self.connections.execute(
                "HMGET", self.keys[0], "st", "ou", "cf", "tot", "fl", "sl"
            )
        total_calls = int(total or 0)
        return Snapshot(
            state=state or CLOSED,
            open_until=_float(open_until) if state == OPEN else None,
            consecutive_failures=int(failures or 0),
            failure_rate=int(failed or 0) / total_calls if total_calls else 0.0,
            slow_call_rate=int(slow or 0) / total_calls if total_calls else 0.0,
            calls_in_window=total_calls,
            half_open_calls=self.connections.execute("HLEN", self.keys[2]) if state == HALF_OPEN else 0,
        )
