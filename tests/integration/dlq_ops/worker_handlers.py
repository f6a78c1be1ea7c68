"""Loaded into the real Celery worker of the queued-replay test (``celery worker -I``).

The handler counts each handling in Redis, so the test process sees what the worker did.
"""

from __future__ import annotations

import os

import redis
from celery.signals import worker_ready
from django.conf import settings

from reliability.dlq.registry import register_handler

WORKER_TYPE = "ops_worker_message"
HANDLED_KEY = "dlq-ops:handled"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@worker_ready.connect
def _announce_ready(sender=None, **_) -> None:
    _redis().set(f"dlq-ops:ready:{os.environ['DLQ_OPS_WORKER']}", os.getpid())


@register_handler(WORKER_TYPE)
def count_handling(payload: dict) -> None:
    _redis().hincrby(HANDLED_KEY, str(payload["n"]), 1)
