from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from reliability.breaker.breaker import forget_circuit_breakers
from reliability.breaker.redis_store import breaker_connections
from tests.clock import FakeClock

# Read once: a test may switch settings.REDIS_URL off to use the database store itself.
SUITE_REDIS_URL = settings.REDIS_URL
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture
def clock():
    return FakeClock(time.time())


@pytest.fixture(autouse=True)
def _fresh_registry():
    forget_circuit_breakers()
    yield
    forget_circuit_breakers()


@pytest.fixture
def breaker_redis(redis_client):
    """The breakers' own connections, on the emptied suite Redis."""
    return breaker_connections()


class Workers:
    """Real processes running ``tests.integration.breaker.worker``, started together."""

    def __init__(self, coord) -> None:
        self.coord = coord
        self.processes: list[subprocess.Popen] = []

    def start(
        self,
        mode: str,
        count: int,
        *,
        name: str,
        config: dict,
        redis_store: bool = True,
        seconds: float = 5,
        database_url: str | None = None,
        extra_env: dict | None = None,
    ) -> None:
        if database_url is None:
            db = connection.settings_dict  # the test database, not the one in DATABASE_URL
            database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "APP_ENV": "testing",
            "DATABASE_URL": database_url,
            "REDIS_URL": SUITE_REDIS_URL if redis_store else "",
            "COORD_URL": SUITE_REDIS_URL,
            "BREAKER": name,
            "BREAKER_CONFIG": json.dumps(config),
            "RUN_SECONDS": str(seconds),
            "LOG_LEVEL": "ERROR",
            **(extra_env or {}),
        }
        for _ in range(count):
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.integration.breaker.worker", mode],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        deadline = time.monotonic() + 60
        while int(self.coord.get("ready") or 0) < count:
            for process in self.processes:
                if process.poll() is not None:
                    raise AssertionError(f"worker died during start-up: {process.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "workers did not start within 60 s"
            time.sleep(0.05)
        self.coord.set("go", 1)

    def wait(self, timeout: float = 60) -> list[int]:
        codes = []
        for process in self.processes:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            stderr = process.stderr.read().decode()
            assert "Traceback" not in stderr, stderr[-3000:]
            codes.append(process.returncode)
        return codes

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stderr.close()


@pytest.fixture
def workers(redis_client):
    group = Workers(redis_client)
    yield group
    group.stop()
