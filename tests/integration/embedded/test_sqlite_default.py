"""The embedded default (no environment: SQLite, filesystem broker) replays dead letters.

The rest of the suite runs on PostgreSQL; this runs the claim's SQLite path (a
conditional UPDATE instead of SKIP LOCKED) in a real process on a real SQLite file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("sqlite_replay.py")


def _manage(*args: str, var_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**env, "VAR_DIR": str(var_dir), "APP_ENV": "testing"},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_dead_letters_replay_on_the_embedded_sqlite_default(tmp_path):
    migrated = _manage("migrate", "--no-input", "-v0", var_dir=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    result = _manage("shell", "-c", SCRIPT.read_text(), var_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["handled"] == list(range(30))
    assert report["stats"]["claimed"] == 30 and report["stats"]["resolved"] == 30
    assert report["statuses"] == ["resolved"]
