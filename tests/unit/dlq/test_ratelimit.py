from __future__ import annotations

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from reliability.dlq.ratelimit import LocalTokenBucket, RedisTokenBucket
from tests.clock import FakeClock
from tests.services import free_port


def test_local_bucket_grants_one_second_of_burst_then_refills_at_the_rate():
    clock = FakeClock(1000.0)
    bucket = LocalTokenBucket(clock)
    grant = bucket.take("whatsapp_message", 15, 10.0)
    assert grant.granted == 10
    assert grant.wait == pytest.approx(0.5)
    assert bucket.take("whatsapp_message", 1, 10.0).granted == 0
    clock.now += 0.35
    assert bucket.take("whatsapp_message", 5, 10.0).granted == 3


def test_local_buckets_are_per_message_type():
    bucket = LocalTokenBucket(FakeClock(1000.0))
    assert bucket.take("a", 5, 5.0).granted == 5
    assert bucket.take("b", 5, 5.0).granted == 5
    assert bucket.take("a", 1, 5.0).granted == 0


def test_redis_bucket_is_shared_by_every_client(redis_client):
    first = RedisTokenBucket(redis_client)
    second = RedisTokenBucket(redis_client)
    assert first.take("whatsapp_message", 4, 5.0).granted == 4
    grant = second.take("whatsapp_message", 4, 5.0)
    assert grant.granted == 1
    assert 0.4 < grant.wait <= 0.61


def test_redis_bucket_falls_back_to_this_process_when_redis_is_down():
    down = redis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    bucket = RedisTokenBucket(down)
    assert bucket.take("fallback_type", 3, 2.0).granted == 2
