"""The service as deployed, for the degradation drills of the messaging pipeline.

A real gunicorn serves the app on the test database; real Celery workers (prefork) run the
pipeline; optionally a real celery-beat runs the outbox sweeper and a separate process runs
the degradation monitor (``start_monitoring``, as a process that is not Celery does: the
beat job cannot run while its broker, Redis, is down). All of them share a private Redis
(cache, breakers, broker, the published level) that a test may stop and start again.
The sandbox's Green API and DeepSeek stand-ins listen on free ports; Green API's sends its
webhooks (echoes, delivery statuses) to the gunicorn.

Intervals, the step-down hold and timeouts are shortened through the processes'
environment, so a drill takes seconds; the assertions are the production ones.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import requests
from django.conf import settings
from rest_framework.authtoken.models import Token

from messaging.models import OutboundMessage, WebhookEvent
from reliability.degradation.models import DegradationEvent
from sandbox import DeepSeekStandIn, GreenApiStandIn
from tests.e2e.conftest import ROOT, WebServer
from tests.integration.dlq.conftest import Worker, test_database_url, wait_for
from tests.integration.webhook import bodies
from tests.services import RedisServer

WEBHOOK_PATH = "/api/v1/webhooks/green-api/"
# Timeouts and waits of the drills (seconds), as the processes' environment.
DRILL_ENV = {
    "APP_ENV": "testing",
    "GREEN_API_CONNECT_TIMEOUT": "0.5",
    "GREEN_API_READ_TIMEOUT": "1",
    "DEEPSEEK_CONNECT_TIMEOUT": "0.5",
    "DEEPSEEK_READ_TIMEOUT": "1",
    "OUTBOX_RETRY_BASE_SECONDS": "0.2",
    "OUTBOX_RETRY_MAX_SECONDS": "1",
    "OUTBOX_REDISPATCH_AFTER_SECONDS": "1",
    "GREEN_API_JOURNAL_LAG_SECONDS": "1",
    "HEALTH_CHECK_TIMEOUT": "1",
    "LOG_LEVEL": "INFO",
}
MONITOR_INTERVAL = 1.0


def history() -> list[tuple[int, int, str]]:
    return [(e.from_level, e.to_level, e.source) for e in DegradationEvent.objects.order_by("id")]


@dataclass
class Stack:
    """gunicorn, stand-ins and a private Redis; ``worker()``, ``beat()``, ``monitor()`` add processes."""

    web: WebServer
    green: GreenApiStandIn
    deepseek: DeepSeekStandIn
    redis: RedisServer
    env: dict[str, str]
    tmp_path: Any
    processes: list[Any] = field(default_factory=list)

    # --- processes ---------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], **env: str) -> Worker:
        log = self.tmp_path / f"{name}.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **self.env, **env}, stdout=output, stderr=output
            )
        started = Worker(name, process, log)
        self.processes.append(started)
        return started

    def _await(self, started: Worker, ready: Callable[[], bool], timeout: float = 60) -> Worker:
        deadline = time.monotonic() + timeout
        while not ready():
            if started.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{started.name} did not start:\n{started.log.read_text()[-3000:]}")
            time.sleep(0.05)
        return started

    def worker(self, name: str = "worker") -> Worker:
        """A prefork Celery worker (its pool process forked from the initialised parent)."""
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=2",
            "-n", f"{name}@%h", "-I", "tests.integration.dlq.handlers",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
        ]  # fmt: skip
        started = self._spawn(name, command, DLQ_TEST_WORKER=name)
        private = redis.Redis.from_url(self.redis.url)
        return self._await(started, lambda: private.exists(f"dlq-test:ready:{name}"))

    def beat(self, *, sweep_every: float = 1.0) -> Worker:
        """celery-beat with the database scheduler, running the outbox sweeper every ``sweep_every`` s."""
        from django_celery_beat.models import IntervalSchedule, PeriodicTask

        every, _ = IntervalSchedule.objects.get_or_create(every=sweep_every, period=IntervalSchedule.SECONDS)
        PeriodicTask.objects.update_or_create(
            name="Sweep the messaging outbox", defaults={"task": "messaging.sweep_outbox", "interval": every}
        )
        command = [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "INFO", "--max-interval", "1"]
        started = self._spawn("beat", command)
        return self._await(started, lambda: "Sending due task" in started.log.read_text())

    def monitor(self) -> Worker:
        """The degradation monitor every ``MONITOR_INTERVAL`` s in a process of its own."""
        coord = redis.Redis.from_url(settings.REDIS_URL)
        ready = int(coord.get("ready") or 0)
        command = [sys.executable, "-m", "tests.integration.degradation.worker", "monitor"]
        started = self._spawn(
            "monitor", command, COORD_URL=settings.REDIS_URL, MONITOR_INTERVAL=str(MONITOR_INTERVAL), RUN_SECONDS="600"
        )
        return self._await(started, lambda: int(coord.get("ready") or 0) > ready)

    def command(self, *args: str) -> subprocess.CompletedProcess:
        """``manage.py ARGS`` as an operator runs it, against the same database, Redis and stand-ins."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**os.environ, **self.env, "VAR_DIR": str(self.tmp_path / "var")},
            capture_output=True,
            text=True,
            timeout=120,
        )

    # --- Green API's side: webhooks --------------------------------------------------------

    def webhook(self, body: dict[str, Any]) -> requests.Response:
        """POST one event as Green API does (a fresh connection, a bounded wait)."""
        return requests.post(
            f"{self.web.url}{WEBHOOK_PATH}",
            data=json.dumps(body),
            headers={"Authorization": f"Bearer {settings.GREEN_API_WEBHOOK_TOKEN}", "Content-Type": "application/json"},
            timeout=10,
        )

    def customer_writes(self, chat_id: str, text: str) -> tuple[dict[str, Any], requests.Response]:
        body = bodies.incoming_text(text, chat_id=chat_id)
        return body, self.webhook(body)

    # --- what happened ---------------------------------------------------------------------

    def sends(self) -> int:
        """sendMessage requests Green API's stand-in accepted."""
        return self.green.stats()["sends"].get("accepted", 0)

    def deepseek_requests(self) -> int:
        return sum(self.deepseek.stats()["requests"].get("chat/completions", {}).values())

    def wait_for_level(self, to_level: int, *, timeout: float = 30) -> DegradationEvent:
        return wait_for(
            lambda: DegradationEvent.objects.filter(to_level=to_level).order_by("-id").first(),
            timeout=timeout,
            what=f"the level to become {to_level}",
            interval=0.1,
        )

    def replies_sent(self, chats: list[str], text: str) -> bool:
        return all(self.green.sent_count(chat, text) >= 1 for chat in chats)

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.log.read_text()[-4000:]}" for p in self.processes)


def chats(first: int, count: int) -> list[str]:
    return [f"7900444{n:04d}@c.us" for n in range(first, first + count)]


@pytest.fixture
def stack(web_server, redis_client, tmp_path) -> Iterator[Callable[..., Stack]]:
    """``stack(hold=SECONDS, database_url=None, **env)``: the service on a private Redis (and the
    test database unless told otherwise), with its stand-ins."""
    made: list[Stack] = []
    stand_ins: list[Any] = []
    logging.getLogger("sandbox").setLevel(logging.WARNING)

    def make(*, hold: float = 3.0, database_url: str | None = None, **extra_env: str) -> Stack:
        private = RedisServer().start()
        env = {
            **DRILL_ENV,
            "DEGRADATION_STEP_DOWN_SECONDS": str(hold),
            "DATABASE_URL": database_url or test_database_url(),
            "REDIS_URL": private.url,
            "GREEN_API_ID_INSTANCE": settings.GREEN_API_ID_INSTANCE,
            "GREEN_API_TOKEN": settings.GREEN_API_TOKEN,
            "GREEN_API_WEBHOOK_TOKEN": settings.GREEN_API_WEBHOOK_TOKEN,
            "DEEPSEEK_API_KEY": settings.DEEPSEEK_API_KEY,
            **extra_env,
        }
        try:
            deepseek = DeepSeekStandIn(api_key=settings.DEEPSEEK_API_KEY)
            deepseek.start()
            stand_ins.append(deepseek)
            env["DEEPSEEK_BASE_URL"] = deepseek.url
            web = web_server(**env)  # the web process never calls Green API
            green = GreenApiStandIn(
                webhook_url=f"{web.url}{WEBHOOK_PATH}",
                webhook_token=settings.GREEN_API_WEBHOOK_TOKEN,
                id_instance=settings.GREEN_API_ID_INSTANCE,
                token=settings.GREEN_API_TOKEN,
                status_delays_ms=[50, 100, 150],
                journal_lag_ms=200,
            )
            green.start()
            stand_ins.append(green)
            env["GREEN_API_URL"] = green.url
        except BaseException:
            private.cleanup()
            raise
        built = Stack(web, green, deepseek, private, env, tmp_path)
        made.append(built)
        return built

    yield make
    for built in made:
        for process in reversed(built.processes):
            process.stop()
        built.redis.cleanup()
    for stand_in in stand_ins:
        stand_in.stop()


@pytest.fixture
def api_token(django_user_model):
    """``api_token(*permissions)``: the key of a staff user holding these ``app.codename`` permissions."""
    from django.contrib.auth.models import Permission

    def make(*permissions: str) -> str:
        user = django_user_model.objects.create_user(f"ops{len(permissions)}", is_staff=True)
        for name in permissions:
            app, codename = name.split(".")
            user.user_permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
        return Token.objects.create(user=user).key

    return make


def outcome_counts() -> dict[str, int]:
    """Incoming events by processing status, and outbound rows by status."""
    counts: dict[str, int] = {}
    for status in WebhookEvent.objects.filter(type_webhook="incomingMessageReceived").values_list(
        "processing_status", flat=True
    ):
        counts[f"in:{status}"] = counts.get(f"in:{status}", 0) + 1
    for status in OutboundMessage.objects.values_list("status", flat=True):
        counts[f"out:{status}"] = counts.get(f"out:{status}", 0) + 1
    return counts
