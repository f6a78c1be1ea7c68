"""The settings refuse bad configuration at start, in a real process, with one readable line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "APP_ENV": "production",
    "SECRET_KEY": "x7Kq-9vR2!mZp4Lw8sT1nYb6Hc3Jd0Fg5Ae_Uo7Ii2Pk9Xz4Qr8Sv1Wt6Ny3Mb0",
    "ALLOWED_HOSTS": "reliability.example.com",
    "HEALTH_TOKEN": "health-token-for-monitoring",
    "GREEN_API_URL": "https://7105.api.greenapi.com",
    "GREEN_API_ID_INSTANCE": "7105123456",
    "GREEN_API_TOKEN": "d75b3a66374942c5b3c019c698abc2067e151558acbd412345",
    "GREEN_API_WEBHOOK_TOKEN": "webhook-token-for-green-api-0123",
    "DEEPSEEK_API_KEY": "sk-0123456789abcdef0123456789abcdef",
}
MESSAGING_SETTINGS = (
    "GREEN_API_URL",
    "GREEN_API_ID_INSTANCE",
    "GREEN_API_TOKEN",
    "GREEN_API_WEBHOOK_TOKEN",
    "DEEPSEEK_API_KEY",
)


def manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "VAR_DIR": str(tmp_path / "var"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_bad_boolean_stops_the_process_with_one_line(tmp_path):
    result = manage("check", env={"DEBUG": "maybe"}, tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: DEBUG='maybe' is not a boolean; use one of: true, false, 1, 0, yes, no, on, off"
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ({"SECRET_KEY": ""}, "APP_ENV=production needs SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-development-only-key-never-use-in-production"}, "needs SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "at least 50 characters"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"ALLOWED_HOSTS": ""}, "needs ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_to_start_misconfigured(tmp_path, override, message):
    result = manage("check", env={**PRODUCTION_ENV, **override}, tmp_path=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_production_passes_the_deploy_checks(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_the_messaging_settings_fails_the_deploy_checks(tmp_path):
    env = {key: value for key, value in PRODUCTION_ENV.items() if key not in MESSAGING_SETTINGS}
    result = manage("check", "--deploy", env=env, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "messaging.E001" in result.stderr
    assert f"APP_ENV=production needs {', '.join(MESSAGING_SETTINGS)}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_instance_id_fails_the_checks(tmp_path):
    result = manage("check", env={**PRODUCTION_ENV, "GREEN_API_ID_INSTANCE": "7105-abc"}, tmp_path=tmp_path)
    assert result.returncode == 1
    assert "messaging.E002" in result.stderr
    assert "GREEN_API_ID_INSTANCE must be the instance id" in result.stderr


def test_the_embedded_default_migrates_sqlite_in_wal_mode(tmp_path):
    result = manage("migrate", "--no-input", "-v0", env={}, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    database = tmp_path / "var" / "db.sqlite3"
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT count(*) FROM django_migrations").fetchone()[0] > 10
    assert (tmp_path / "var" / "broker" / "queue").is_dir()


@pytest.mark.parametrize(
    "env",
    [
        {"DEBUG": "true", "ALLOWED_HOSTS": "reliability.example.com"},
        {"ALLOWED_HOSTS": "localhost,reliability.example.com"},  # DEBUG is on by default in development
        {"APP_ENV": "testing", "DEBUG": "on", "ALLOWED_HOSTS": "*"},
        {"DEBUG": "1", "ALLOWED_HOSTS": "10.0.0.5"},
    ],
)
def test_debug_with_a_public_host_name_refuses_to_start(tmp_path, env):
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line.startswith("configuration error: DEBUG is on but ALLOWED_HOSTS names ")
    assert "set APP_ENV=production" in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"DEBUG": "true", "ALLOWED_HOSTS": "localhost,127.0.0.1,[::1],testserver,app.localhost,.localhost"},
        {"DEBUG": "false", "ALLOWED_HOSTS": "reliability.example.com"},
        {},
    ],
)
def test_local_names_or_debug_off_start(tmp_path, env):
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr


PROBE_OVER_HTTP = """
import json
from django.test import Client
client = Client(HTTP_HOST="reliability.example.com")
token = {"Authorization": "Bearer health-token-for-monitoring"}
answers = {
    "metrics": client.get("/metrics"),
    "metrics_with_token": client.get("/metrics", headers=token),
    "live": client.get("/health/live"),
    "admin": client.get("/admin/"),
    "api": client.get("/admin/reliability/circuit-breakers"),
}
print(json.dumps({name: [r.status_code, r.get("Location", "")] for name, r in answers.items()}))
"""


def test_production_redirects_to_https_except_probes_and_the_metrics_scrape(tmp_path):
    assert manage("migrate", "--no-input", "-v0", env=PRODUCTION_ENV, tmp_path=tmp_path).returncode == 0

    result = manage("shell", "-c", PROBE_OVER_HTTP, env=PRODUCTION_ENV, tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    assert answers["metrics"] == [401, ""], "still behind its token, over plain HTTP"
    assert answers["metrics_with_token"] == [200, ""]
    assert answers["live"] == [200, ""]
    assert answers["admin"] == [301, "https://reliability.example.com/admin/"]
    assert answers["api"] == [301, "https://reliability.example.com/admin/reliability/circuit-breakers"]
