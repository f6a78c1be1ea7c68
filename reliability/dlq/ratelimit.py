"""Per-type replay rate limiting, so a recovering service is not flooded by its backlog.

A token bucket per ``message_type`` (capacity: one second's worth of tokens). With
Redis configured the bucket lives in Redis and is updated by one Lua script, so every
worker on every host shares it; without Redis (the embedded default, one worker) each
process keeps its own bucket, which is the same thing there.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from django.conf import settings
from redis.exceptions import RedisError

# KEYS[1] bucket; ARGV: rate (tokens/s), capacity, wanted. Returns {granted, wait_ms}.
_TAKE_LUA = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
end
local granted = math.min(wanted, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
local wait_ms = 0
if granted < wanted then
  wait_ms = math.ceil((wanted - granted - tokens) / rate * 1000)
end
return {granted, wait_ms}
"""


log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Grant:
    granted: int
    # Seconds until the rest of the request could be granted; 0 when all was granted.
    wait: float


def _capacity(rate: float) -> float:
    return max(rate, 1.0)


class LocalTokenBucket:
    """Buckets in this process's memory; ``clock`` is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, wanted: int, rate: float) -> Grant:
        capacity = _capacity(rate)
        with self._lock:
            now = self._clock()
            tokens, ts = self._state.get(key, (capacity, now))
            tokens = min(capacity, tokens + max(now - ts, 0.0) * rate)
            granted = min(wanted, math.floor(tokens))
            tokens -= granted
            self._state[key] = (tokens, max(now, ts))
        wait = 0.0 if granted == wanted else (wanted - granted - tokens) / rate
        return Grant(granted, max(wait, 0.0))


class RedisTokenBucket:
    """Buckets shared by every process through one Redis Lua script (one round trip)."""

    def __init__(self, client, prefix: str = "wa:dlq:replay-rate:") -> None:
        self._script = client.register_script(_TAKE_LUA)
        self._prefix = prefix

    def take(self, key: str, wanted: int, rate: float) -> Grant:
        try:
            granted, wait_ms = self._script(keys=[self._prefix + key], args=[rate, _capacity(rate), wanted])
        except RedisError as exc:
            # Redis down must not stall replays: fall back to this process's bucket.
            log.warning("dlq_rate_limiter_unavailable", error_class=type(exc).__name__)
            return _local_bucket.take(key, wanted, rate)
        return Grant(int(granted), int(wait_ms) / 1000)


_local_bucket = LocalTokenBucket()


def replay_rate_limiter() -> LocalTokenBucket | RedisTokenBucket:
    """The shared bucket when Redis is configured, else this process's."""
    if settings.REDIS_URL and "django_redis" in settings.CACHES["default"]["BACKEND"]:
        from django_redis import get_redis_connection

        return RedisTokenBucket(get_redis_connection("default"))
    return _local_bucket
