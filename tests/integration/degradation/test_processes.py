"""What every process sees, in real processes: an operator override and its expiry, and Redis
stopped and started again under a running monitor."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings
from django.db import connection

from reliability.breaker.services import breaker_force_open
from reliability.degradation.models import DegradationEvent
from reliability.degradation.services import degradation_evaluate, degradation_set_level
from sandbox import GreenApiStandIn
from tests.services import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = settings.BASE_DIR
SUITE_REDIS_URL = settings.REDIS_URL


class Processes:
    def __init__(self, coord: redis.Redis) -> None:
        self.coord = coord
        self.started: list[subprocess.Popen] = []

    def start(self, mode: str, count: int, *, redis_url: str, seconds: float, green_api_url: str, **env: str) -> None:
        db = connection.settings_dict  # the test database, not the one in DATABASE_URL
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "APP_ENV": "testing",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": redis_url,
            "GREEN_API_URL": green_api_url,
            "CELERY_BROKER_URL": "memory://",
            "COORD_URL": SUITE_REDIS_URL,
            "RUN_SECONDS": str(seconds),
            "LOG_LEVEL": "ERROR",
            **env,
        }
        ready = int(self.coord.get("ready") or 0)
        for _ in range(count):
            self.started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tests.integration.degradation.worker", mode],
                    cwd=ROOT,
                    env=environment,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
        deadline = time.monotonic() + 60
        while int(self.coord.get("ready") or 0) < ready + count:
            for process in self.started:
                if process.poll() is not None:
                    raise AssertionError(f"a process died while starting: {process.stderr.read().decode()[-2000:]}")
            assert time.monotonic() < deadline, "processes did not start within 60 s"
            time.sleep(0.05)

    def go(self) -> None:
        self.coord.set("go", 1)

    def wait(self, timeout: float = 90) -> None:
        for process in self.started:
            process.wait(timeout=timeout)
            stderr = process.stderr.read().decode()
            assert "Traceback" not in stderr, stderr[-3000:]
            assert process.returncode == 0, stderr[-3000:]

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stderr.close()

    def seen(self) -> dict[str, list[tuple[float, tuple[str, ...]]]]:
        """Each observer's changes: (time, (level, breaker store, cache, cache answer))."""
        result = {}
        for key in self.coord.keys("seen:*"):
            lines = [line.decode().split() for line in self.coord.lrange(key, 0, -1)]
            result[key.decode()] = [(float(line[0]), tuple(line[1:])) for line in lines]
        return result


@pytest.fixture
def processes(redis_client):
    group = Processes(redis_client)
    yield group
    group.stop()


def first(events, *, after: float, where) -> float | None:
    return next((at for at, seen in events if at >= after and where(seen)), None)


def level_at(events, moment: float) -> str:
    level = "normal"
    for at, seen in events:
        if at > moment:
            break
        level = seen[0]
    return level


def states_between(events, start: float, end: float) -> list[tuple[str, ...]]:
    """What an observer saw from ``start`` to ``end``: the state in force at ``start`` and each change after."""
    before = [seen for at, seen in events if at <= start]
    return before[-1:] + [seen for at, seen in events if start < at < end]


def history() -> list[tuple[int, int, str]]:
    return [(e.from_level, e.to_level, e.source) for e in DegradationEvent.objects.order_by("id")]


@pytest.fixture
def green_api(settings):
    """The Green API stand-in, authorized, for this process and the ones it starts."""
    with GreenApiStandIn() as stand_in:
        settings.GREEN_API_URL = stand_in.url
        yield stand_in


def test_an_override_wins_in_every_process_until_it_expires_then_the_rules_level_returns(
    processes, superuser, green_api
):
    breaker_force_open(name="deepseek", actor=superuser, channel="admin")
    degradation_evaluate()  # the rules: minor
    processes.start("observe", 2, redis_url=SUITE_REDIS_URL, seconds=8, green_api_url=green_api.url)
    processes.go()
    time.sleep(1.5)
    set_at = time.time()
    state = degradation_set_level(level="moderate", reason="maintenance", expires_in=3, actor=superuser, channel="api")
    expiry = state.expires_at
    time.sleep(3.5)
    degradation_evaluate()  # the monitor's next run records the expiry
    processes.wait()

    seen = processes.seen()
    assert len(seen) == 2
    for events in seen.values():
        assert level_at(events, set_at - 0.1) == "minor"
        moderate = first(events, after=set_at, where=lambda s: s[0] == "moderate")
        assert moderate is not None and moderate - set_at < 2.0, events
        back = first(events, after=moderate, where=lambda s: s[0] == "minor")
        # Each process ends the override at its expiry by itself, without waiting for the monitor.
        assert back is not None and expiry - 0.05 <= back < expiry + 1.0, (expiry, events)
        assert level_at(events, expiry + 2.0) == "minor"
    assert history() == [(0, 1, "auto"), (1, 2, "operator"), (2, 1, "auto")]
    assert DegradationEvent.objects.order_by("id").last().reason.startswith("operator override expired")


def test_redis_stopped_under_a_running_monitor_raises_the_level_and_redis_back_lowers_it_after_the_hold(
    processes, green_api
):
    """Redis stops mid-run: within one monitor interval the level is severe in every process
    (read from the database row), breakers keep admitting calls on per-process state and the
    cache answers from memory. Redis back: both return to Redis, and the level steps down
    once the hold time has passed."""
    interval, hold, check_timeout = 1.0, 4.0, 1.0
    # What a loaded 2-core machine adds to a run of the monitor (the checks, the writes).
    slack = 1.5
    server = RedisServer().start()
    try:
        env = {
            "MONITOR_INTERVAL": str(interval),
            "DEGRADATION_STEP_DOWN_SECONDS": str(hold),
            "HEALTH_CHECK_TIMEOUT": str(check_timeout),
        }
        processes.start("monitor", 1, redis_url=server.url, seconds=20, green_api_url=green_api.url, **env)
        processes.start("observe", 2, redis_url=server.url, seconds=16, green_api_url=green_api.url, **env)
        processes.go()
        time.sleep(3)
        stopped_at = time.time()
        server.stop()
        time.sleep(5)
        restarting_at = time.time()
        server.start()
        back_at = time.time()
        processes.wait()
        keys_after = redis.Redis.from_url(server.url).keys("cb:{degradation_probe}*")
    finally:
        server.cleanup()

    assert history() == [(0, 3, "auto"), (3, 0, "auto")]
    raised, lowered = DegradationEvent.objects.order_by("id")
    assert raised.reason == "redis_down"
    # Within one monitor interval, plus the health check's own timeout.
    rose_after = raised.created_at.timestamp() - stopped_at
    assert rose_after < interval + check_timeout + slack, rose_after
    # Not before the hold time after Redis answered again, nor much later.
    fell_after = lowered.created_at.timestamp() - back_at
    assert hold - 0.5 <= fell_after < hold + interval + check_timeout + slack, fell_after
    assert "stepped down after" in lowered.reason

    seen = processes.seen()
    assert len(seen) == 2
    for events in seen.values():
        severe = first(events, after=stopped_at, where=lambda s: s[0] == "severe")
        # ... and every process reads it within the second its copy may be old.
        assert severe is not None and severe - stopped_at < interval + check_timeout + slack + 1.0, events
        during = states_between(events, stopped_at + 1.5, restarting_at)
        assert during and all(s[1:] == ("local", "memory", "ok") for s in during), events
        assert level_at(events, restarting_at) == "severe", events
        normal = first(events, after=back_at, where=lambda s: s[0] == "normal")
        assert normal is not None and normal - back_at >= hold - 0.5, events
        assert events[-1][1] == ("normal", "shared", "redis", "ok"), events
        # Redis may answer a moment before start() returns: count from when it was started.
        shared_again = first(events, after=restarting_at, where=lambda s: s[1] == "shared")
        assert shared_again is not None and shared_again - back_at < 1.0 + slack, events
    # The breaker kept admitting calls throughout and its state is in Redis again.
    assert int(processes.coord.get("rejected") or 0) == 0
    assert int(processes.coord.get("admitted")) > 300
    assert keys_after
