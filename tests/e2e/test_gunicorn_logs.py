"""gunicorn's own error and access logs, with the shipped ``gunicorn.conf.py``: redacted, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import requests

from tests.e2e.conftest import ROOT
from tests.services import free_port

SECRET = "SECRET123456"
GREEN_API_TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd4127e1"


def test_gunicorn_error_and_access_logs_carry_no_secret_from_the_url(tmp_path):
    port = free_port()
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    command = [
        sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--log-level", "debug",
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json", "VAR_DIR": str(tmp_path / "var"), "APP_ENV": "testing"}
    with out.open("w") as stdout, err.open("w") as stderr:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                live = requests.get(f"{base}/health/live?token={SECRET}&page=2", timeout=5)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, err.read_text()[-2000:]
                time.sleep(0.1)
        assert live.status_code == 200
        green_path = f"/waInstance1101000001/sendMessage/{GREEN_API_TOKEN}"
        assert requests.get(f"{base}{green_path}?apiTokenInstance={GREEN_API_TOKEN}", timeout=5).status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=30)

    access = [json.loads(line) for line in out.read_text().splitlines()]
    errors = [json.loads(line) for line in err.read_text().splitlines()]
    everything = out.read_text() + err.read_text()
    assert SECRET not in everything
    assert GREEN_API_TOKEN not in everything
    requested = [line["event"] for line in access if line["logger"] == "gunicorn.access"]
    assert len(requested) == 2, access
    assert '"GET /health/live?token=[REDACTED]&page=2 HTTP/1.1" 200' in requested[0]
    assert "/waInstance1101000001/sendMessage/[REDACTED]?apiTokenInstance=[REDACTED] HTTP/1.1" in requested[1]
    assert any(line["logger"] == "gunicorn.error" and "Booting worker" in line["event"] for line in errors)
