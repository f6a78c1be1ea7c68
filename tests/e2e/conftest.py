"""A migrated database of its own and a real gunicorn for each end-to-end test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]


def _server_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Iterator[str]:
    """A database migrated once for the session, the template of every ``fresh_database``:
    copying it takes a tenth of a second, running the migrations a few seconds per test."""
    name = f"e2e_template_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{_server_url()}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"{_server_url()}/{name}", "VAR_DIR": str(tmp_path_factory.mktemp("var"))},
        check=True,
        timeout=180,
    )
    yield name
    with psycopg.connect(f"{_server_url()}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_database(migrated_template) -> Iterator[str]:
    """A new, migrated PostgreSQL database on the suite's server."""
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{_server_url()}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield f"{_server_url()}/{name}"
    with psycopg.connect(f"{_server_url()}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class WebServer:
    """``gunicorn config.wsgi`` on a free port: one worker of four threads unless told otherwise."""

    def __init__(self, env: dict[str, str], log: Path, *, workers: int = 1, threads: int = 4) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: nobody reads a pipe while the test runs, and a full pipe
        # (64 KiB of request logs) blocks the server mid-request.
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "config.wsgi",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(workers),
                    "--threads",
                    str(threads),
                    "--timeout",
                    "30",
                ],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=output,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{self.url}/health/live", timeout=5)
                return
            except requests.RequestException:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"gunicorn did not start: {self.log.read_text(errors='replace')[-2000:]}"
                    ) from None
                time.sleep(0.1)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(f"{self.url}{path}", timeout=10, **kwargs)

    def stop(self) -> None:
        """Gunicorn's quick shutdown (SIGQUIT): the test is over, and its graceful one
        (SIGTERM) spends seconds per server waiting out idle workers' poll loops. A worker
        whose threads still hold a client's connection may not exit on it: then the whole
        group (the server runs in a session of its own) is killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)


@pytest.fixture
def web_server(tmp_path) -> Iterator[type[WebServer]]:
    started: list[WebServer] = []

    def start(*, workers: int = 1, threads: int = 4, **env: str) -> WebServer:
        log = tmp_path / f"gunicorn-{len(started)}.log"
        server = WebServer({"VAR_DIR": str(tmp_path / "var"), **env}, log, workers=workers, threads=threads)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
