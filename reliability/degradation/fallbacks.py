"""The seed's ``fallback_service``: what answers when a dependency may not or cannot be used.

Each fallback is small and does one real thing, and each answer it gives is counted in
``fallback_usage_total{service,reason}``:

- ``ai_fallback(kind)``: a canned reply (``DEGRADATION_CANNED_REPLIES``), marked degraded.
  Sentiment has its own fallback (``messaging.sentiment``: a local lexicon); this one
  gives text where an AI answer was wanted.
- ``whatsapp_fallback(message_data)``: the outbound message stays in the outbox and is
  sent when sending is allowed again; the answer says so ("queued").
- ``database_fallback(operation)``: read-only mode. Reads go on; writes are refused
  while the ``database_read_only`` condition holds (the same rule as ``ReadOnlyMiddleware``).
- ``redis_fallback(op, key, ...)``: the cache, served from a bounded per-process memory
  while Redis does not answer, and from Redis again (the memory dropped) once it does.

They are synchronous: only ``redis_fallback`` does I/O, and that is the cache call itself.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

import structlog
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from reliability.degradation.gates import read_only
from reliability.degradation.metrics import fallback_active, fallback_usage

logger = structlog.get_logger(__name__)

AI_REASONS = ("circuit_open", "failed", "not_allowed")
WHATSAPP_REASONS = ("not_allowed", "circuit_open")
DEFAULT_REPLY_KIND = "default"
# After Redis failed, the next calls go to memory without trying Redis for this long.
REDIS_RETRY_SECONDS = 1.0

try:  # django-redis wraps Redis errors in its own exception
    from django_redis.exceptions import ConnectionInterrupted

    CACHE_ERRORS: tuple[type[BaseException], ...] = (RedisError, ConnectionInterrupted)
except ImportError:  # pragma: no cover - django-redis is a pinned dependency
    CACHE_ERRORS = (RedisError,)


class CannedReply(TypedDict):
    text: str
    kind: str
    source: str
    degraded: bool


class QueuedSend(TypedDict):
    status: str
    degraded: bool
    reason: str
    detail: str
    message_id: Any
    chat_id: Any


class DatabaseAnswer(TypedDict):
    operation: str
    allowed: bool
    read_only: bool
    detail: str


class MemoryCache:
    """A bounded LRU with expiry, for one process. Oldest entries go first when it is full."""

    def __init__(self, max_entries: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            item = self._entries.get(key)
            if item is None:
                return default
            expires, value = item
            if expires <= self.clock():
                del self._entries[key]
                return default
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: Any, timeout: float) -> None:
        with self._lock:
            self._entries[key] = (self.clock() + timeout, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._entries.pop(key, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class FallbackService:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.memory = MemoryCache(settings.DEGRADATION_MEMORY_CACHE_ENTRIES, clock=clock)
        self.redis_down_since: float | None = None  # wall-clock time, for the doors
        self._redis_retry_at = 0.0

    # --- AI ---------------------------------------------------------------------------------

    def ai_fallback(self, kind: str, *, reason: str = "not_allowed") -> CannedReply:
        """The canned reply for ``kind`` (``greeting``, ``acknowledgement``, ``unavailable``...),
        or the ``default`` one for a kind the table does not have: a fallback must answer."""
        if reason not in AI_REASONS:
            raise ValueError(f"reason must be one of {', '.join(AI_REASONS)}")
        replies = settings.DEGRADATION_CANNED_REPLIES
        used = kind if isinstance(kind, str) and kind in replies else DEFAULT_REPLY_KIND
        fallback_usage.labels(service="deepseek", reason=reason).inc()
        return CannedReply(text=replies[used], kind=used, source="fallback", degraded=True)

    # --- WhatsApp ---------------------------------------------------------------------------

    def whatsapp_fallback(self, message_data: Mapping[str, Any], *, reason: str = "not_allowed") -> QueuedSend:
        """The answer for a send that does not happen now: the message stays in the outbox
        (status ``queued``) and the outbox sends it when sending is allowed again. Nothing is
        sent or stored here; the answer names the message, never its text."""
        if reason not in WHATSAPP_REASONS:
            raise ValueError(f"reason must be one of {', '.join(WHATSAPP_REASONS)}")
        fallback_usage.labels(service="green_api", reason=reason).inc()
        return QueuedSend(
            status="queued",
            degraded=True,
            reason=reason,
            detail="kept in the outbox; it is sent when outbound sending is allowed again",
            message_id=message_data.get("id"),
            chat_id=message_data.get("chatId"),
        )

    # --- database ---------------------------------------------------------------------------

    def database_fallback(self, operation: str) -> DatabaseAnswer:
        """Whether ``operation`` (``read`` or ``write``) may run now: reads always, writes
        not while the database is read-only."""
        if operation not in ("read", "write"):
            raise ValueError("operation must be 'read' or 'write'")
        refusing = read_only()
        if operation == "write" and refusing:
            fallback_usage.labels(service="database", reason="read_only").inc()
            return DatabaseAnswer(
                operation=operation,
                allowed=False,
                read_only=True,
                detail="the database is read-only right now: writes are refused, reads are served",
            )
        return DatabaseAnswer(operation=operation, allowed=True, read_only=refusing, detail="")

    # --- Redis ------------------------------------------------------------------------------

    def redis_fallback(self, op: str, key: str, value: Any = None, *, timeout: float = 300.0) -> Any:
        """``get``, ``set`` or ``delete`` on the cache; from this process's memory while Redis
        does not answer. Values written to memory are dropped when Redis answers again:
        another process may have written newer ones there meanwhile."""
        if op not in ("get", "set", "delete"):
            raise ValueError("op must be 'get', 'set' or 'delete'")
        if self.redis_down_since is None or self.clock() >= self._redis_retry_at:
            try:
                result = self._shared(op, key, value, timeout)
            except CACHE_ERRORS as exc:
                self._redis_lost(exc)
            else:
                if self.redis_down_since is not None:
                    self._redis_back()
                return result
        fallback_usage.labels(service="redis", reason="unavailable").inc()
        if op == "get":
            return self.memory.get(key)
        if op == "set":
            self.memory.set(key, value, timeout)
            return None
        return self.memory.delete(key)

    @property
    def redis_fallback_active(self) -> bool:
        return self.redis_down_since is not None

    @staticmethod
    def _shared(op: str, key: str, value: Any, timeout: float) -> Any:
        if op == "get":
            return cache.get(key)
        if op == "set":
            return cache.set(key, value, timeout)
        return cache.delete(key)

    def _redis_lost(self, exc: BaseException) -> None:
        self._redis_retry_at = self.clock() + REDIS_RETRY_SECONDS
        if self.redis_down_since is None:
            self.redis_down_since = time.time()
            fallback_active.labels(service="redis").set(1)
            logger.warning("redis_fallback_started", error_class=type(exc).__name__)

    def _redis_back(self) -> None:
        dropped = len(self.memory)
        self.memory.clear()
        self.redis_down_since = None
        fallback_active.labels(service="redis").set(0)
        logger.info("redis_fallback_ended", dropped_entries=dropped)

    def status(self) -> dict[str, Any]:
        """What ``/health/detailed`` shows about this process's memory cache."""
        return {
            "active": self.redis_fallback_active,
            "since": self.redis_down_since,
            "entries": len(self.memory),
            "max_entries": self.memory.max_entries,
        }


fallback_service = FallbackService()
