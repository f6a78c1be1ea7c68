"""The retry budget shared in Redis: one bucket for every process, updated atomically."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
import redis
from django.conf import settings

from reliability.errors import TransientError
from reliability.retry import RedisBudgetStore, RetryBudget, RetryConfig, RetryHandler
from tests.services import RedisServer

pytestmark = pytest.mark.integration

_WORKER = textwrap.dedent(
    """
    import sys, time
    import redis
    from reliability.retry.budget import RedisBudgetStore, RetryBudget

    url, start_at = sys.argv[1], float(sys.argv[2])
    budget = RetryBudget("it-shared", max_tokens=1000, token_ratio=0.5,
                         store=RedisBudgetStore(redis.Redis.from_url(url)))
    while time.time() < start_at:
        time.sleep(0.001)
    for _ in range(150):
        budget.record_failure()
        budget.record_success()
    """
)


def test_processes_share_one_bucket_and_lose_no_update(redis_client):
    start_at = time.time() + 1.0
    workers = [
        subprocess.Popen([sys.executable, "-c", _WORKER, settings.REDIS_URL, str(start_at)], cwd=settings.BASE_DIR)
        for _ in range(4)
    ]
    for worker in workers:
        assert worker.wait(timeout=60) == 0
    # 4 processes x 150 x (-1 + 0.5); a lost read-modify-write would leave another figure.
    budget = RetryBudget("it-shared", max_tokens=1000, token_ratio=0.5, store=RedisBudgetStore(redis_client))
    assert budget.tokens == 1000 - 4 * 150 * 0.5


def test_a_budget_spent_in_one_process_denies_retries_in_another(redis_client):
    def handler() -> RetryHandler:
        budget = RetryBudget("it-green", store=RedisBudgetStore(redis.Redis.from_url(settings.REDIS_URL)))
        config = RetryConfig(max_retries=3, base_delay=0.0, max_delay=0.0, service="it-green")
        return RetryHandler(config, budget=budget, sleep=lambda seconds: None)

    calls = []

    def failing():
        calls.append(1)
        raise TransientError("green api down")

    first, second = handler(), handler()
    with pytest.raises(TransientError):
        first.execute(failing)  # 4 failed attempts: 10 -> 6 tokens
    calls.clear()
    with pytest.raises(TransientError):
        second.execute(failing)  # a fresh handler, same shared bucket: 6 -> 5, no retry
    assert calls == [1]
    assert redis_client.get("retry-budget:it-green") == b"5000"


def test_when_redis_is_down_the_budget_allows_retries_still_bounded():
    server = RedisServer().start()
    try:
        client = redis.Redis.from_url(server.url, socket_connect_timeout=0.2, socket_timeout=0.2)
        budget = RetryBudget("it-lost", max_tokens=2, store=RedisBudgetStore(client))
        assert budget.record_failure() is False  # 2 -> 1: not above half
        server.stop()
        assert budget.record_failure() is True
        calls = []

        def failing():
            calls.append(1)
            raise TransientError("down")

        handler = RetryHandler(
            RetryConfig(max_retries=2, base_delay=0.0, max_delay=0.0, service="it-lost"),
            budget=budget,
            sleep=lambda seconds: None,
        )
        with pytest.raises(TransientError):
            handler.execute(failing)
        assert len(calls) == 3
    finally:
        server.cleanup()


def test_retry_budget_store_setting_puts_every_services_budget_in_redis(redis_client):
    script = textwrap.dedent(
        """
        import django
        django.setup()
        from reliability.retry import get_retry_budget
        budget = get_retry_budget("it-configured")
        budget.record_failure()
        budget.record_failure()
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "RETRY_BUDGET_STORE": "redis"}
    env["REDIS_URL"] = settings.REDIS_URL
    for _ in range(2):  # two processes, one bucket
        subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, check=True, timeout=60)
    assert redis_client.get("retry-budget:it-configured") == b"6000"
