from __future__ import annotations

import getpass
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from reliability.audit import AuditRecord
from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.models import BreakerState, BreakerTransition
from reliability.breaker.services import breaker_force_open
from tests.services import RedisServer


def run_breakers(*args: str, **env_overrides: str) -> subprocess.CompletedProcess:
    """``manage.py breakers ...`` as an on-call engineer runs it, against the test database."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        **env_overrides,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "breakers", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.django_db
def test_list_prints_a_table_of_every_breaker(superuser, capsys):
    breaker_force_open(name="deepseek", actor=superuser, channel="admin")

    call_command("breakers", "list")

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "FAILURE", "RATE", "CONSECUTIVE", "FAILURES", "OPEN", "UNTIL"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(settings.CIRCUIT_BREAKER_CONFIGS) <= set(rows)
    assert rows["deepseek"][1] == "forced_open"
    assert rows["green_api"][1:] == ["closed", "0.0%", "of", "0", "0", "-"]


@pytest.mark.django_db
def test_reset_in_process_records_the_reason(superuser, capsys):
    breaker_force_open(name="green_api", actor=superuser, channel="admin")

    call_command("breakers", "reset", "green_api", "--reason", "provider back")

    assert "green_api: forced_open -> closed (reset)" in capsys.readouterr().out
    assert get_circuit_breaker("green_api").state == BreakerState.CLOSED
    audit = AuditRecord.objects.get(action="circuit_breaker.reset")
    assert audit.actor_label == f"cli:{getpass.getuser()}"
    assert audit.reason == "provider back"
    assert BreakerTransition.objects.filter(breaker__name="green_api").first().note == "provider back"


@pytest.mark.django_db
def test_unknown_name_is_an_error_with_exit_code_2():
    with pytest.raises(CommandError, match="no circuit breaker named 'nope'") as raised:
        call_command("breakers", "force-open", "nope")
    assert raised.value.returncode == 2


@pytest.mark.django_db
def test_normal_on_a_closed_breaker_exits_1():
    with pytest.raises(CommandError, match="use reset to close it") as raised:
        call_command("breakers", "normal", "deepseek")
    assert raised.value.returncode == 1


@pytest.mark.django_db(transaction=True)
def test_exit_codes_of_the_real_command():
    unknown = run_breakers("reset", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        f"CommandError: no circuit breaker named 'nope'; known: {', '.join(sorted(settings.CIRCUIT_BREAKER_CONFIGS))}"
    ]

    missing_name = run_breakers("disable")
    assert missing_name.returncode == 2
    assert "the following arguments are required: name" in missing_name.stderr

    done = run_breakers("force", "green_api", "--reason", "drill")
    assert done.returncode == 0, done.stderr
    assert "green_api: closed -> forced_open (forced open)" in done.stdout
    assert get_circuit_breaker("green_api").state == BreakerState.FORCED_OPEN
    audit = AuditRecord.objects.get(action="circuit_breaker.force_open")
    assert (audit.actor_label, audit.reason, audit.actor) == (f"cli:{getpass.getuser()}", "drill", None)


@pytest.mark.django_db(transaction=True)
def test_list_still_answers_when_redis_is_down():
    redis = RedisServer().start()
    redis.stop()
    try:
        result = run_breakers("list", REDIS_URL=redis.url)
    finally:
        redis.cleanup()

    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "unknown (store unreachable)" in rows["green_api"]
