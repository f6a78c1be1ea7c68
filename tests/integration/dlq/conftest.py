"""Real Celery worker processes against the test database and the suite's Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection


def test_database_url() -> str:
    """The URL of pytest-django's test database (``test_<name>``), for processes we start."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Worker:
    def __init__(self, name: str, process: subprocess.Popen, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        stop_all([self])


def stop_all(workers: list[Worker]) -> None:
    """Warm shutdown of every worker at once: each takes a second or two, mostly waiting."""
    running = [worker for worker in workers if worker.process.poll() is None]
    for worker in running:
        worker.process.terminate()
    for worker in running:
        try:
            worker.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.fixture
def start_worker(redis_client, tmp_path):
    """``start_worker(name, pool=..., concurrency=1, **env)``: a ``celery -A config worker``, ready to consume.

    One pool process unless ``concurrency`` says more (load drills run several, as production does).
    """
    workers: list[Worker] = []

    def start(name: str, pool: str = "solo", timeout: float = 30.0, concurrency: int = 1, **extra_env: str) -> Worker:
        # Only a test that asks for it (extra_env) writes multiprocess metric files.
        env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
        env.update(
            DATABASE_URL=test_database_url(),
            REDIS_URL=settings.REDIS_URL,
            APP_ENV="testing",
            DLQ_TEST_WORKER=name,
            **extra_env,
        )
        log = tmp_path / f"{name}.log"
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={pool}", f"--concurrency={concurrency}",
            "-n", f"{name}@%h", "-I", "tests.integration.dlq.handlers",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
        ]  # fmt: skip
        with log.open("w") as output:
            process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=output)
        worker = Worker(name, process, log)
        workers.append(worker)
        deadline = time.monotonic() + timeout
        while not redis_client.exists(f"dlq-test:ready:{name}"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.05)
        return worker

    yield start
    stop_all(workers)


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
