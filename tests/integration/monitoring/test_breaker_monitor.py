"""The breaker monitor job: one log line per breaker with its live state; an overlapping run skips."""

from __future__ import annotations

import pytest
from django.conf import settings
from structlog.testing import capture_logs

from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.services import breaker_force_open
from reliability.dlq.locks import job_lock
from reliability.errors import TransientError
from reliability.tasks import monitor_circuit_breakers

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_every_breaker_is_logged_with_its_live_state_and_open_ones_warn(superuser):
    breaker_force_open(name="green_api", actor=superuser, channel="admin", reason="maintenance")

    with capture_logs() as logs:
        result = monitor_circuit_breakers()

    assert result["skipped"] is False
    assert set(settings.CIRCUIT_BREAKER_CONFIGS) <= set(result["breakers"])
    assert result["breakers"]["green_api"] == "forced_open"
    assert result["breakers"]["deepseek"] == "closed"
    lines = {line["name"]: line for line in logs if line["event"] == "circuit_breaker_status"}
    assert lines["green_api"]["state"] == "forced_open" and lines["green_api"]["since"]
    assert lines["deepseek"]["log_level"] == "info"
    summary = next(line for line in logs if line["event"] == "circuit_breakers_monitored")
    assert summary["forced_open"] == 1


def test_an_open_breaker_is_a_warning_with_its_retry_after():
    breaker = get_circuit_breaker("deepseek")

    def fail() -> None:
        raise TransientError("DeepSeek answered 503")

    for _ in range(breaker.config.failure_threshold):
        with pytest.raises(TransientError):
            breaker.call(fail)

    with capture_logs() as logs:
        monitor_circuit_breakers()

    line = next(line for line in logs if line["event"] == "circuit_breaker_status" and line["name"] == "deepseek")
    assert (line["log_level"], line["state"]) == ("warning", "open")
    assert 0 < line["retry_after"] <= breaker.config.recovery_timeout


def test_a_run_while_another_holds_the_lock_skips():
    with job_lock("monitor_circuit_breakers", timeout=60) as acquired:
        assert acquired
        assert monitor_circuit_breakers() == {"skipped": True}
    assert monitor_circuit_breakers()["skipped"] is False
