"""A non-blocking lock per maintenance job, so overlapping runs cannot collide.

Celery beat may fire a job while the previous run is still going (a slow run, or a
second beat started by mistake). Each job takes this lock and skips its run when
another holds it. Redis (``cache.lock``) when configured; on PostgreSQL without Redis a
session advisory lock; otherwise an atomic-enough ``cache.add`` (the embedded default
runs one worker).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache
from django.db import connection


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
        acquired = lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()
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
