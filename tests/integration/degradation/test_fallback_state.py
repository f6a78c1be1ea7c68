"""The fallbacks to per-process state while Redis is down are visible, and end when Redis answers."""

from __future__ import annotations

import pytest
import redis
from django.db import connections
from django.test import Client

from reliability.breaker import breaker as breaker_module
from reliability.breaker.breaker import CircuitBreaker
from reliability.breaker.config import CircuitBreakerConfig
from reliability.breaker.connections import BoundedConnections
from reliability.breaker.metrics import local_fallback
from reliability.breaker.redis_store import RedisStore
from reliability.dlq.locks import job_lock
from tests.clock import FakeClock
from tests.services import free_port

pytestmark = pytest.mark.django_db

DEAD_REDIS = f"redis://127.0.0.1:{free_port()}/0"


def connections_to(url: str) -> BoundedConnections:
    return BoundedConnections.from_url(
        url, max_connections=1, wait=0.2, decode_responses=True, socket_timeout=0.2, socket_connect_timeout=0.2
    )


def test_a_breaker_on_per_process_state_shows_in_health_and_metrics_until_redis_answers(settings):
    settings.HEALTH_TOKEN = "health-token-123456"
    clock = FakeClock(1_000_000.0)
    config = CircuitBreakerConfig(failure_threshold=3)
    store = RedisStore("flaky_redis_svc", config, connections=connections_to(DEAD_REDIS))
    breaker = CircuitBreaker("flaky_redis_svc", config, store=store, clock=clock)
    breaker_module._registry["flaky_redis_svc"] = breaker

    assert breaker.call(lambda: "answer") == "answer"  # admitted on the per-process state
    assert store.local_since is not None
    assert local_fallback.labels("flaky_redis_svc")._value.get() == 1
    detailed = Client().get("/health/detailed", headers={"Authorization": "Bearer health-token-123456"}).json()
    assert "flaky_redis_svc" in detailed["fallbacks"]["circuit_breakers_on_local_state"]

    store.connections = connections_to(settings.REDIS_URL)  # Redis is back
    clock.advance(1.1)
    assert breaker.call(lambda: "answer") == "answer"
    assert store.local_since is None
    assert local_fallback.labels("flaky_redis_svc")._value.get() == 0
    assert redis.Redis.from_url(settings.REDIS_URL).exists("cb:{flaky_redis_svc}")  # rebuilt in Redis


def test_a_maintenance_lock_falls_back_to_the_database_when_redis_is_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    with job_lock("degradation_monitor", timeout=60) as acquired:
        assert acquired is True
        # Another session cannot take the same job meanwhile: the database holds the lock.
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                from reliability.dlq.locks import _advisory_key

                cursor.execute("SELECT pg_try_advisory_lock(%s)", [_advisory_key("dlq:job-lock:degradation_monitor")])
                assert cursor.fetchone()[0] is False
        finally:
            other.close()
