"""``manage.py degradation``: in process for the output, as a real subprocess for the exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from reliability.audit import AuditRecord
from reliability.breaker.services import breaker_force_open
from reliability.degradation.models import DegradationEvent
from reliability.degradation.selectors import degradation_status

VALID = "valid levels: normal, minor, moderate, severe, critical"


def run_degradation(*args: str) -> subprocess.CompletedProcess:
    """``manage.py degradation ...`` as an on-call engineer runs it, against the test database."""
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    return subprocess.run(
        [sys.executable, "manage.py", "degradation", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db
def test_show_prints_the_level_conditions_gates_and_history(capsys, superuser, committed):
    breaker_force_open(name="deepseek", actor=superuser, channel="admin")
    with committed():
        call_command("degradation", "evaluate")
    out = capsys.readouterr().out
    assert "level        minor (1)" in out
    assert "source       auto" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    assert lines["breaker_open:deepseek"][1:4] == ["HOLDS", "->", "minor"]
    assert lines["ai_sentiment"][1] == "OFF" and lines["reports"][1] == "on"
    call_command("degradation", "show")
    assert "normal -> minor  auto" in capsys.readouterr().out


@pytest.mark.django_db
def test_set_and_clear_in_process_are_audited_as_the_os_user(capsys, committed):
    with committed():
        call_command("degradation", "set", "severe", "--reason", "db failover", "--for", "30m")
    assert "degradation level set to severe until" in capsys.readouterr().out
    status = degradation_status()
    assert (status["level"], status["source"], status["set_by"][:4]) == ("severe", "operator", "cli:")
    with committed():
        call_command("degradation", "clear", "--reason", "done")
    assert "override cleared: level normal (auto)" in capsys.readouterr().out
    assert list(AuditRecord.objects.order_by("id").values_list("action", flat=True)) == [
        "degradation.set_level",
        "degradation.clear",
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "purple", "--reason", "x"), f"unknown degradation level 'purple'; {VALID}"),
        (("set", "minor"), "set needs --reason"),
        (("set", "minor", "--reason", "   "), "set needs --reason"),
        (("set", "minor", "--reason", "x", "--for=-30m"), "not a duration in the future"),
        (("set", "minor", "--reason", "x", "--for", "0"), "not a duration in the future"),
        (("set", "minor", "--reason", "x", "--for", "nan"), "not a duration in the future"),
        (("set", "minor", "--reason", "x", "--for", "400d"), "at most 30 days"),
        (("set", "minor", "--reason", "x", "--for", "soon"), "not a duration in the future"),
        (("clear",), "clear needs --reason"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message):
    result = run_degradation(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert DegradationEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_clear_without_an_override_exits_1_and_a_real_set_and_clear_exit_0():
    refused = run_degradation("clear", "--reason", "tidy")
    assert refused.returncode == 1
    assert "no operator override is in force" in refused.stderr
    assert run_degradation("set", "moderate", "--reason", "maintenance", "--for", "2h").returncode == 0
    shown = run_degradation("show")
    assert "level        moderate (2)" in shown.stdout
    assert "expires      20" in shown.stdout
    assert run_degradation("clear", "--reason", "maintenance over").returncode == 0
    assert [(e.from_level, e.to_level, e.source) for e in DegradationEvent.objects.order_by("id")] == [
        (0, 2, "operator"),
        (2, 0, "operator"),
    ]
