"""The embedded default (SQLite, no Redis) runs the whole pipeline: store once, process, reply, send.

The rest of the suite runs on PostgreSQL; this proves the INSERT ... ON CONFLICT path, the
cooldown without advisory locks and the claims on a real SQLite file, against the stand-ins.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox import DeepSeekStandIn, GreenApiStandIn

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("sqlite_pipeline.py")


def _manage(*args: str, var_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "VAR_DIR": str(var_dir), "APP_ENV": "testing", **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_sample_conversation_is_stored_once_and_answered_once_on_sqlite(tmp_path):
    assert _manage("migrate", "--no-input", "-v0", var_dir=tmp_path).returncode == 0
    with GreenApiStandIn() as green, DeepSeekStandIn() as deepseek:
        result = _manage(
            "shell", "-c", SCRIPT.read_text(), var_dir=tmp_path, GREEN_API_URL=green.url, DEEPSEEK_BASE_URL=deepseek.url
        )
        assert result.returncode == 0, result.stderr[-3000:]
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["events"] == 4
        assert [outcome[:2] for outcome in report["outcomes"]] == [["stored", "duplicate"]] * 4
        assert report["sends"] == ["sent"] * len(report["replies"])
        assert [text for _, text, _ in report["replies"]] == [
            "Sorry to hear that, Anna. We are looking into your order right now.",
            "Thank you, Boris! We are glad you are happy.",
            "Anna, we have started your refund; you will hear from us within a day.",
            "We are open Monday to Saturday, 9:00 to 18:00.",
        ]
        for chat_id, text, status in report["replies"]:
            assert status == "sent"
            assert green.sent_count(chat_id, text) == 1
        assert green.duplicates() == 0
