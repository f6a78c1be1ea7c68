"""Breaker transitions are counted from the shared history: once, whichever process or door made them."""

from __future__ import annotations

import pytest

from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.services import breaker_reset
from reliability.errors import TransientError
from tests.integration.monitoring.conftest import manage, sample, sample_in_another_process

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def transitions(name: str, to_state: str, reason: str) -> float | None:
    return sample("circuit_breaker_transitions_total", {"name": name, "to_state": to_state, "reason": reason})


def transitions_elsewhere(name: str, to_state: str, reason: str) -> float | None:
    labels = {"name": name, "to_state": to_state, "reason": reason}
    return sample_in_another_process("circuit_breaker_transitions_total", labels)


def test_a_change_made_by_a_command_counts_once_on_the_scrape_of_this_process():
    done = manage("breakers", "force-open", "green_api", "--reason", "maintenance window")
    assert done.returncode == 0, done.stderr

    assert transitions("green_api", "forced_open", "operator") == 1
    # Reading again, or from yet another process, counts nothing more.
    assert transitions("green_api", "forced_open", "operator") == 1
    assert transitions_elsewhere("green_api", "forced_open", "operator") == 1


def test_transitions_made_here_count_once_here_and_in_any_other_process(superuser):
    breaker = get_circuit_breaker("deepseek")
    threshold = breaker.config.failure_threshold

    def fail() -> None:
        raise TransientError("DeepSeek answered 503")

    for _ in range(threshold):
        with pytest.raises(TransientError):
            breaker.call(fail)
    assert breaker.state == "open"
    breaker_reset(name="deepseek", actor=superuser, channel="admin", reason="provider back")

    for scrape in (transitions, transitions_elsewhere):
        assert scrape("deepseek", "open", "consecutive_failures") == 1
        assert scrape("deepseek", "closed", "operator") == 1
