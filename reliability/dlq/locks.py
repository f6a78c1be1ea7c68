"""A non-blocking lock per maintenance job, so overlapping runs cannot collide.

Celery beat may fire a job while the previous run is still going (a slow run, or a
second beat started by mistake). Each job takes this lock and skips its run when
another holds it. Redis (``cache.lock``) when configured; on PostgreSQL without Redis a
session advisory lock; otherwise an atomic-enough ``cache.add`` (the embedded default
runs one worker). When Redis does not answer, the job still runs under the database's
lock: the degradation monitor must run precisely while Redis is down.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from django.core.cache import cache
from django.db import connection
from redis.exceptions import RedisError

logger = structlog.get_logger(__name__)


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def job_lock(name: str, *, timeout: float) -> Iterator[bool]:
    """Yield True when this run holds the lock ``name``, False when another run does.

    ``timeout`` bounds how long a crashed holder keeps the Redis or cache lock; the
    advisory lock ends with the holder's database session.
    """
    key = f"dlq:job-lock:{name}"
    if hasattr(cache, "lock"):
        lock = cache.lock(key, timeout=timeout, blocking=False)
        try:
            acquired = lock.acquire(blocking=False)
        except RedisError as exc:
            logger.warning("job_lock_redis_unavailable", job=name, error_class=type(exc).__name__)
        else:
            try:
                yield acquired
            finally:
                if acquired:
                    _release(lock, name)
            return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_advisory_key(key)])
            acquired = cursor.fetchone()[0]
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [_advisory_key(key)])
        return
    token = uuid.uuid4().hex
    acquired = cache.add(key, token, timeout=timeout)
    try:
        yield acquired
    finally:
        if acquired and cache.get(key) == token:
            cache.delete(key)


def _release(lock: object, name: str) -> None:
    try:
        lock.release()
    except RedisError as exc:
        # Redis went away (or restarted and forgot the lock) during the run; the lock's
        # timeout ends it anyway, and the run's work is done.
        logger.warning("job_lock_release_failed", job=name, error_class=type(exc).__name__)
