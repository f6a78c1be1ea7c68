"""Retry budget per service: gRPC's retry throttling, so an outage does not multiply load.

A token bucket holds ``max_tokens``. Every failed attempt takes one token, every success
gives back ``token_ratio``; retries are allowed only while more than half the bucket is
left. With the defaults (10 tokens, 0.1 per success) retries add at most about 10 % to
the calls a healthy service sees, and a service failing every call gets no retries
at all until enough successes have refilled the bucket.

Tokens are kept as whole milli-tokens so that many small refills add up exactly, in
process memory and in Redis alike. The store is injectable: ``LocalBudgetStore`` keeps
one bucket per process, ``RedisBudgetStore`` one bucket shared by every process.
"""

from __future__ import annotations

import functools
import threading
from typing import Protocol

import redis
import structlog
from django.conf import settings

logger = structlog.get_logger(__name__)

MILLI = 1000
DEFAULT_MAX_TOKENS = 10.0
DEFAULT_TOKEN_RATIO = 0.1


class BudgetStore(Protocol):
    def add(self, key: str, delta: int, *, capacity: int) -> int:
        """Add ``delta`` milli-tokens to bucket ``key`` (a new bucket starts full), clamped to
        ``[0, capacity]``, and return the new level, all in one atomic step."""
        ...


class LocalBudgetStore:
    """Buckets in this process's memory, safe across threads."""

    def __init__(self) -> None:
        self._levels: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, key: str, delta: int, *, capacity: int) -> int:
        with self._lock:
            level = max(0, min(capacity, self._levels.get(key, capacity) + delta))
            self._levels[key] = level
            return level


# Read, clamp and write in one script: concurrent processes never lose an update.
_ADD_SCRIPT = """
local capacity = tonumber(ARGV[2])
local level = tonumber(redis.call('GET', KEYS[1]) or capacity)
level = math.max(0, math.min(capacity, level + tonumber(ARGV[1])))
redis.call('SET', KEYS[1], level)
return level
"""


class RedisBudgetStore:
    """Buckets in Redis, shared by every process; one round trip per recorded attempt.

    When Redis cannot be reached the budget allows the retry (the loop is still bounded
    by ``max_retries`` and its deadline) rather than failing calls over its own outage.
    """

    def __init__(self, client: redis.Redis, *, prefix: str = "retry-budget:") -> None:
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_ADD_SCRIPT)

    def add(self, key: str, delta: int, *, capacity: int) -> int:
        try:
            return int(self._script(keys=[self._prefix + key], args=[delta, capacity]))
        except redis.RedisError as exc:
            logger.warning("retry_budget_store_unavailable", budget=key, error=type(exc).__name__)
            return capacity


class RetryBudget:
    """The token bucket of one service."""

    def __init__(
        self,
        service: str,
        *,
        max_tokens: float = DEFAULT_MAX_TOKENS,
        token_ratio: float = DEFAULT_TOKEN_RATIO,
        store: BudgetStore | None = None,
    ) -> None:
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be positive, not {max_tokens!r}")
        if not 0 < token_ratio <= max_tokens:
            raise ValueError(f"token_ratio must be positive and at most max_tokens, not {token_ratio!r}")
        self.service = service
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self._capacity = round(max_tokens * MILLI)
        self._refill = round(token_ratio * MILLI)
        self._store = store if store is not None else LocalBudgetStore()

    @property
    def tokens(self) -> float:
        return self._store.add(self.service, 0, capacity=self._capacity) / MILLI

    def record_success(self) -> None:
        self._store.add(self.service, self._refill, capacity=self._capacity)

    def record_failure(self) -> bool:
        """Take a token for a failed attempt; whether a retry is still allowed afterwards."""
        level = self._store.add(self.service, -MILLI, capacity=self._capacity)
        return level * 2 > self._capacity


_budgets: dict[str, RetryBudget] = {}
_budgets_lock = threading.Lock()


@functools.cache
def _default_store() -> BudgetStore:
    if settings.RETRY_BUDGET_STORE == "redis":
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
        return RedisBudgetStore(client)
    return LocalBudgetStore()


def get_retry_budget(service: str) -> RetryBudget:
    """The budget of ``service``, one per process, kept where ``RETRY_BUDGET_STORE`` says."""
    with _budgets_lock:
        budget = _budgets.get(service)
        if budget is None:
            budget = _budgets[service] = RetryBudget(service, store=_default_store())
        return budget
