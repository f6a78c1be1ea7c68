"""Long commands show progress: a bar on a terminal (a pty here), plain lines otherwise."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT
from tests.services import RedisServer

LETTERS = 120
SEED = """
from reliability.dlq.services import dead_letter_add
from reliability.errors import TransientError
for n in range({letters}):
    dead_letter_add(message_type="{kind}", payload={{"args": [10_000 + n]}}, error=TransientError("503"))
"""


def seed(env: dict[str, str], kind: str) -> None:
    code = SEED.format(letters=LETTERS, kind=kind)
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, timeout=120)


@pytest.fixture
def env(fresh_database, tmp_path):
    redis = RedisServer().start()
    environment = {**os.environ, "DATABASE_URL": fresh_database, "REDIS_URL": redis.url, "VAR_DIR": str(tmp_path)}
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    yield environment
    redis.cleanup()


def manage(env: dict[str, str], *args: str, tty: bool) -> tuple[int, str, str]:
    """Run ``manage.py args``; stderr on a pseudo-terminal when ``tty``. (exit code, stdout, stderr)."""
    command = [sys.executable, "manage.py", *args]
    if not tty:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout, done.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # the follower side closed: the process is gone
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(leader)
    stdout = process.stdout.read().decode()
    process.wait(timeout=60)
    return process.returncode, stdout, b"".join(chunks).decode(errors="replace")


def test_dlq_replay_of_many_letters_draws_a_bar_on_a_terminal_and_lines_elsewhere(env):
    seed(env, "whatsapp_message")

    code, stdout, stderr = manage(env, "dlq", "replay", "--type", "whatsapp_message", "--dry-run", tty=False)
    assert code == 0 and "would replay 120" in stdout

    code, stdout, stderr = manage(env, "dlq", "replay", "--type", "whatsapp_message", "--rate", "1000", tty=True)
    assert "Replay:" in stdout, stdout
    assert "\r\x1b[2Kreplay [" in stderr, stderr[-500:]
    assert f"] {LETTERS}/{LETTERS} 100%" in stderr
    assert "replay: 50/120" not in stderr, "no plain lines on a terminal"

    seed(env, "inbound_processing")
    code, stdout, stderr = manage(env, "dlq", "replay", "--type", "inbound_processing", "--rate", "1000", tty=False)
    assert "Replay:" in stdout, stdout
    lines = [line for line in stderr.splitlines() if line.startswith("replay:")]
    assert [line.split(" ")[1] for line in lines] == ["50/120", "100/120", "120/120"], stderr[-2000:]
    assert "\r" not in stderr and "\x1b" not in stderr


def test_the_report_over_a_long_range_shows_its_steps_and_keeps_stdout_clean(env):
    code, stdout, stderr = manage(env, "reliability_report", "--since", "90d", "--format", "json", tty=False)
    assert code == 0, stderr
    assert json.loads(stdout)["period"]["seconds"] == 90 * 86400
    steps = [line for line in stderr.splitlines() if line.startswith("report: ")]
    assert steps[0].startswith("report: 1/") and steps[0].endswith(" breakers")
    assert steps[-1].split(" ")[1].split("/")[0] == steps[-1].split(" ")[1].split("/")[1]

    code, stdout, stderr = manage(env, "reliability_report", "--since", "90d", tty=True)
    assert code == 0
    assert "\r\x1b[2Kreport [" in stderr and "100%" in stderr
    assert stdout.startswith("Reliability report ")
