"""Ctrl-C on ``make run`` stops web, worker and beat cleanly within honcho's grace time.

The real ``make run`` on the embedded default (SQLite, filesystem broker) in a directory
of its own; SIGINT goes to its whole process group, as a terminal sends it on Ctrl-C.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import requests
from honcho.manager import KILL_WAIT

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTED = re.compile(r"\| (\w+)\.1 started \(pid=(\d+)\)")


def _wait_until_serving(make: subprocess.Popen, log: Path, port: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert make.poll() is None, f"make run ended early:\n{log.read_text()[-3000:]}"
        output = log.read_text()
        worker_ready = re.search(r"worker\.1 .*celery@\S+ ready\.", output)
        beat_ready = "beat: Starting..." in output
        try:
            live = requests.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200
        except requests.RequestException:
            live = False
        if live and worker_ready and beat_ready:
            return
        time.sleep(0.5)
    raise AssertionError(f"make run did not come up within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _kill_leftovers(log: Path) -> None:
    # honcho starts each process in a session of its own: killing make's group misses them.
    for _, pid in STARTED.findall(log.read_text()):
        try:
            os.killpg(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def test_ctrl_c_on_make_run_stops_the_worker_with_a_warm_shutdown(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    env.update(VAR_DIR=str(tmp_path / "var"), WEB_PORT=str(port))
    log = tmp_path / "make-run.log"
    with log.open("wb") as output:
        # -o: the shared virtualenv is installed already; the test must not reach for PyPI.
        make = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_serving(make, log, port)
        os.killpg(make.pid, signal.SIGINT)
        make.wait(timeout=KILL_WAIT + 60)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
        _kill_leftovers(log)
    output = log.read_text()

    assert "worker: Warm shutdown (MainProcess)" in output
    assert "exited with 'signal" not in output, "pool processes must not be killed under the worker"
    # honcho SIGKILLs whatever still runs KILL_WAIT seconds after the first process stopped:
    # no SIGKILL and a clean exit status mean the worker finished inside that grace time.
    assert "SIGKILL" not in output
    assert "worker.1 stopped (rc=0)" in output
    assert "beat.1 stopped (rc=0)" in output
    assert "web.1 stopped" in output
    assert "make: ***" not in output, "an interrupted `make run` is not an error (no 'Error 130')"
    # The recipe exits 0; make itself then re-raises the SIGINT it received, as every
    # program interrupted from a terminal does, so the shell sees it was interrupted.
    assert make.returncode == -signal.SIGINT
