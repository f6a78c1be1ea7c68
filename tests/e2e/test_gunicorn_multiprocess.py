"""gunicorn with the project's config drops a dead worker's live gauges and keeps its counters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import requests

from tests.e2e.metrics_run import ROOT, children
from tests.integration.dlq.conftest import wait_for
from tests.services import free_port


def test_a_killed_worker_leaves_its_counters_and_takes_its_live_gauges_with_it(tmp_path):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "testing",
        "VAR_DIR": str(tmp_path / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi",
         "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    try:
        workers = wait_for(lambda: len(children(server.pid)) == 2 and children(server.pid), timeout=60,
                             what="two gunicorn workers")  # fmt: skip
        # Every worker declares fallback_active (a live gauge) and its counters when it loads the app.
        wait_for(
            lambda: all((directory / f"gauge_livemax_{pid}.db").exists() for pid in workers), timeout=60,
            what="both workers' files",
        )  # fmt: skip
        assert requests.get(f"http://127.0.0.1:{port}/health/live", timeout=10).status_code == 200
        victim = workers[0]

        os.kill(victim, signal.SIGKILL)

        wait_for(lambda: not (directory / f"gauge_livemax_{victim}.db").exists(), timeout=30,
                   what="the killed worker's live gauges dropped")  # fmt: skip
        assert (directory / f"counter_{victim}.db").exists()
        replacement = wait_for(
            lambda: [pid for pid in children(server.pid) if pid not in workers], timeout=60, what="a new worker"
        )[0]
        wait_for(lambda: (directory / f"gauge_livemax_{replacement}.db").exists(), timeout=60,
                   what="the new worker's files")  # fmt: skip
        assert (directory / f"gauge_livemax_{workers[1]}.db").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
