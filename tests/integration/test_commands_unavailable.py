"""On-call commands with their Redis gone: one readable line and exit 1, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.services import RedisServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_breaker_reset_with_redis_down_is_one_line_and_exit_1(tmp_path):
    redis = RedisServer().start()
    redis.stop()
    db = connection.settings_dict
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "breakers", "reset", "green_api", "--reason", "test"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
                "REDIS_URL": redis.url,
                "VAR_DIR": str(tmp_path),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        redis.cleanup()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "CommandError: Redis is unavailable (ConnectionError); try again shortly"
    )
