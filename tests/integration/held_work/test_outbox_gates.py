"""Sending under the gates: from severe on a queued row stays queued, held, with no attempt
spent, no request to Green API and no dead letter, through the task and the sweeper; at
moderate sends are attempted and an open breaker defers them."""

from __future__ import annotations

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from messaging.models import OutboundStatus as S
from messaging.services.outbox import HELD_NOTE, outbound_replay, outbound_send
from messaging.services.sweeper import outbox_sweep
from messaging.tasks import send_outbound_message
from reliability.breaker import get_circuit_breaker
from reliability.dlq.models import DeadLetter
from tests.integration.outbox.rows import ago, outbound
from tests.integration.outbox.test_reconcile_and_sweep import queued_tasks

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SEND = "/sendMessage/"


def fallback_used(reason: str) -> float:
    return REGISTRY.get_sample_value("fallback_usage_total", {"service": "green_api", "reason": reason}) or 0.0


@pytest.mark.parametrize("name", ["severe", "critical"])
def test_above_outbound_sendings_level_a_queued_row_is_held_with_no_attempt_no_call_and_no_dead_letter(
    green, level, name
):
    row = outbound()
    level.set(name)
    before = fallback_used("not_allowed")
    attempt = outbound_send(outbound_id=row.pk)
    assert (attempt.outcome, attempt.status, attempt.error) == ("held", S.QUEUED, None)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.sending_at, row.last_error) == (S.QUEUED, 0, None, HELD_NOTE)
    assert row.held_at is not None
    # The task ends without a retry: the release, not a countdown, sends the row.
    assert send_outbound_message.apply(args=[row.pk]).get() == "held"
    assert green.count(SEND) == 0
    assert not DeadLetter.objects.exists()
    assert fallback_used("not_allowed") == before + 1, "the WhatsApp fallback answers once per held row"


def test_at_moderate_a_send_is_attempted(green, level):
    level.set("moderate")
    row = outbound()
    assert outbound_send(outbound_id=row.pk).outcome == "sent"
    assert green.count(SEND) == 1


def test_at_moderate_an_open_breaker_defers_the_send_and_the_whatsapp_fallback_answers(green, level):
    level.set("moderate")
    get_circuit_breaker("green_api").set_state("forced_open")
    before = fallback_used("circuit_open")
    row = outbound()
    assert outbound_send(outbound_id=row.pk).outcome == "deferred"
    row.refresh_from_db()
    assert (row.status, row.attempts, row.held_at) == (S.QUEUED, 0, None)
    assert fallback_used("circuit_open") == before + 1


def test_a_row_that_is_not_queued_is_not_held(green, level):
    level.set("severe")
    row = outbound(S.SENT, id_message="3EB0BBBB000000000001")
    assert outbound_send(outbound_id=row.pk).outcome == "skipped"
    row.refresh_from_db()
    assert (row.status, row.held_at) == (S.SENT, None)


def test_a_dead_letter_replay_at_severe_puts_the_row_back_in_the_outbox_held(green, level):
    row = outbound(S.FAILED, attempts=3, failed_at=timezone.now())
    level.set("severe")
    attempt = outbound_replay(outbound_id=row.pk)
    assert (attempt.outcome, attempt.error) == ("held", None)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (S.QUEUED, 3)
    assert row.held_at is not None
    assert green.count(SEND) == 0


def test_the_sweeper_leaves_held_rows_alone_while_sending_is_off(green, level, redis_client):
    row = outbound(queued_at=ago(3600))
    level.set("severe")
    outbound_send(outbound_id=row.pk)
    redis_client.delete("celery")
    stats = outbox_sweep()
    assert (stats["outbound_redispatched"], stats["outbound_released"]) == (0, 0)
    assert queued_tasks(redis_client) == []
    row.refresh_from_db()
    assert row.held_at is not None


def test_a_claimed_row_loses_its_hold_mark(green, level):
    row = outbound()
    level.set("severe")
    outbound_send(outbound_id=row.pk)
    level.clear()
    assert outbound_send(outbound_id=row.pk).outcome == "sent"
    row.refresh_from_db()
    assert (row.status, row.held_at, row.attempts, row.last_error) == (S.SENT, None, 1, "")
