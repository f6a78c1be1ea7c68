"""The whole service as deployed, for the load and fault drills of the messaging flow.

A real gunicorn serves the app on the test database (PostgreSQL) and the suite's Redis
(cache, breakers, broker); real Celery workers (prefork: pool processes forked from an
initialised parent) run the pipeline; the sandbox's Green API and DeepSeek stand-ins
listen on free ports, and Green API's stand-in sends its webhooks (echoes of our sends,
delivery statuses) to the gunicorn. Countdowns, timeouts and the journal's lag are
shortened through settings (the environment of the processes), so a drill takes seconds.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings

from sandbox import DeepSeekStandIn, GreenApiStandIn
from tests.e2e.conftest import ROOT, WebServer
from tests.integration.dlq.conftest import Worker, start_worker, test_database_url  # noqa: F401 - fixture
from tests.integration.webhook import bodies
from tests.webhook_load import WEBHOOK_PATH, webhooks_post

# Timeouts and waits of the drills (seconds), as the processes' environment.
DRILL_ENV = {
    "GREEN_API_CONNECT_TIMEOUT": "0.5",
    "GREEN_API_READ_TIMEOUT": "0.5",
    "DEEPSEEK_CONNECT_TIMEOUT": "0.5",
    "DEEPSEEK_READ_TIMEOUT": "1",
    "OUTBOX_MAX_ATTEMPTS": "3",
    "OUTBOX_RETRY_BASE_SECONDS": "0.2",
    "OUTBOX_RETRY_MAX_SECONDS": "1",
    "GREEN_API_JOURNAL_LAG_SECONDS": "1",
    "LOG_LEVEL": "WARNING",
}


@dataclass
class Stack:
    """gunicorn + stand-ins; ``worker()`` adds Celery workers, ``command()`` runs manage.py.

    ``env`` is what every process of the drill is configured with (``start_worker`` adds
    the database, Redis and ``APP_ENV`` itself).
    """

    web: WebServer
    green: GreenApiStandIn
    deepseek: DeepSeekStandIn
    env: dict[str, str]
    _start_worker: Any = field(repr=False)
    tmp_path: Any = field(repr=False)

    def worker(self, name: str, *, concurrency: int = 2, **env: str) -> Worker:
        return self._start_worker(name, pool="prefork", concurrency=concurrency, **{**self.env, **env})

    def warm_up(self, *, requests: int = 40, concurrency: int = 10) -> None:
        """Give every gunicorn thread its first request (database and Redis connections) before measuring.

        ``deviceInfo`` events are stored as ignored: nothing is processed, nothing calls out.
        """
        events = [
            {"typeWebhook": "deviceInfo", "instanceData": bodies.instance_data(), "deviceData": {"warm_up": n}}
            for n in range(requests)
        ]
        answers = webhooks_post(self.web.url, settings.GREEN_API_WEBHOOK_TOKEN, events, concurrency=concurrency)
        assert {answer.status for answer in answers} == {200}, answers[:3]

    def command(self, *args: str) -> subprocess.CompletedProcess:
        """``manage.py ARGS`` as an operator runs it, against the same database, Redis and stand-ins."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**os.environ, **_services(), **self.env, "VAR_DIR": str(self.tmp_path / "var")},
            capture_output=True,
            text=True,
            timeout=120,
        )


def _services() -> dict[str, str]:
    return {"DATABASE_URL": test_database_url(), "REDIS_URL": settings.REDIS_URL, "APP_ENV": "testing"}


@pytest.fixture
def stack(web_server, start_worker, redis_client, tmp_path) -> Iterator[Any]:  # noqa: F811
    """``stack(green_settings=..., **green_switches)``: start the service and its stand-ins."""
    stand_ins: list[Any] = []
    # A line per request and webhook is thousands of lines in a drill; faults still show as warnings.
    logging.getLogger("sandbox").setLevel(logging.WARNING)

    def make(*, green_settings: dict[str, str] | None = None, web_workers: int = 2, **green_switches: Any) -> Stack:
        env = {
            **DRILL_ENV,
            "GREEN_API_ID_INSTANCE": settings.GREEN_API_ID_INSTANCE,
            "GREEN_API_TOKEN": settings.GREEN_API_TOKEN,
            "GREEN_API_WEBHOOK_TOKEN": settings.GREEN_API_WEBHOOK_TOKEN,
            "DEEPSEEK_API_KEY": settings.DEEPSEEK_API_KEY,
        }
        web = web_server(workers=web_workers, threads=4, **_services(), **env)
        green = GreenApiStandIn(
            webhook_url=f"{web.url}{WEBHOOK_PATH}",
            webhook_token=settings.GREEN_API_WEBHOOK_TOKEN,
            id_instance=settings.GREEN_API_ID_INSTANCE,
            token=settings.GREEN_API_TOKEN,
            settings=green_settings,
            request_log_size=20_000,
            **green_switches,
        )
        deepseek = DeepSeekStandIn(api_key=settings.DEEPSEEK_API_KEY, request_log_size=20_000)
        for stand_in in (green, deepseek):
            stand_in.start()
            stand_ins.append(stand_in)
        env.update(GREEN_API_URL=green.url, DEEPSEEK_BASE_URL=deepseek.url)
        return Stack(web, green, deepseek, env, start_worker, tmp_path)

    yield make
    for stand_in in stand_ins:
        stand_in.stop()
