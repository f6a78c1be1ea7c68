"""Sending one outbox row with the real client over real sockets: claim, call, record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import OutboundStatus as S
from messaging.services.outbox import outbound_replay, outbound_send
from reliability.breaker import get_circuit_breaker
from tests.httpserver import Reply
from tests.integration.outbox.rows import CHAT, ago, outbound, stored
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

SEND = "/sendMessage/"


def test_a_queued_row_is_claimed_sent_once_and_recorded(green):
    row = outbound(text="We are on it")
    attempt = outbound_send(outbound_id=row.pk)
    assert (attempt.outcome, attempt.status) == ("sent", S.SENT)
    row.refresh_from_db()
    assert row.status == S.SENT and row.id_message.startswith("3EB0") and row.attempts == 1
    assert row.sent_at is not None and row.sending_at is not None and row.last_error == ""
    assert [r.json() for r in green.received(SEND)] == [{"chatId": CHAT, "message": "We are on it"}]


def test_a_row_that_is_not_queued_is_never_sent(green):
    for status in (S.SENDING, S.UNKNOWN, S.SENT, S.DELIVERED, S.READ, S.FAILED):
        row = outbound(status, id_message=f"ID-{status}" if status in (S.SENT, S.DELIVERED, S.READ) else "")
        attempt = outbound_send(outbound_id=row.pk)
        assert (attempt.outcome, attempt.status) == ("skipped", status)
    assert green.count(SEND) == 0


def test_a_row_due_later_is_not_sent_early(green):
    row = outbound(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert outbound_send(outbound_id=row.pk).outcome == "skipped"
    assert green.count(SEND) == 0


def test_a_definite_failure_queues_the_row_again_with_backoff(green, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 4
    green.queue(Reply(status=500, json={"message": "oops"}), Reply(status=500, json={"message": "oops"}), path=SEND)
    row = outbound()
    attempt = outbound_send(outbound_id=row.pk)
    assert attempt.outcome == "retry"
    assert 2 <= attempt.countdown <= 4
    row.refresh_from_db()
    assert (row.status, row.attempts) == (S.QUEUED, 1)
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=1)
    assert "UpstreamUnavailable" in row.last_error


def test_when_the_attempts_are_spent_the_row_fails_for_the_dead_letter_queue(green, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    green.queue(*[Reply(status=503) for _ in range(4)], path=SEND)
    row = outbound(attempts=1)
    attempt = outbound_send(outbound_id=row.pk)
    assert attempt.outcome == "exhausted" and attempt.error is not None
    row.refresh_from_db()
    assert (row.status, row.attempts) == (S.FAILED, 2)
    assert row.last_error.startswith("not sent after 2 attempts; in the dead letter queue")


@pytest.mark.parametrize(("status", "error"), [(400, "GreenApiRejected"), (466, "GreenApiQuotaExceeded")])
def test_a_rejection_fails_the_row_with_the_reason(green, status, error):
    green.queue(Reply(status=status, json={"message": "Validation failed: chatId"}), path=SEND)
    row = outbound()
    attempt = outbound_send(outbound_id=row.pk)
    assert attempt.outcome == "rejected" and type(attempt.error).__name__ == error
    row.refresh_from_db()
    assert row.status == S.FAILED and error in row.last_error and str(status) in row.last_error
    assert green.count(SEND) == 1


@pytest.mark.parametrize("action", ["close_after_read", "reset_after_read", "truncate_body"])
def test_a_send_whose_answer_is_lost_is_unknown_and_not_sent_again(green, action):
    green.queue(Reply(action=action, json={"idMessage": "LOST"}), path=SEND)
    row = outbound()
    assert outbound_send(outbound_id=row.pk).outcome == "unknown"
    assert outbound_send(outbound_id=row.pk).outcome == "skipped"
    row.refresh_from_db()
    assert row.status == S.UNKNOWN and row.last_error.startswith("outcome unknown, reconciling")
    assert green.count(SEND) == 1


def test_an_answer_later_than_the_read_timeout_is_unknown(green):
    green.queue(Reply(delay=1.0, json={"idMessage": "LATE"}), path=SEND)
    row = outbound()
    assert outbound_send(outbound_id=row.pk).outcome == "unknown"
    assert green.count(SEND) == 1


def test_an_open_breaker_keeps_the_row_queued_and_spends_no_attempt(green):
    get_circuit_breaker("green_api").set_state("forced_open")
    row = outbound()
    attempt = outbound_send(outbound_id=row.pk)
    assert attempt.outcome == "deferred" and attempt.countdown >= 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (S.QUEUED, 0)
    assert row.next_attempt_at is not None
    assert green.count(SEND) == 0
    get_circuit_breaker("green_api").set_state("closed")
    row.next_attempt_at = None
    row.save(update_fields=["next_attempt_at"])
    assert outbound_send(outbound_id=row.pk).outcome == "sent"
    row.refresh_from_db()
    assert row.attempts == 1


def test_statuses_that_arrived_before_the_answer_are_applied_when_it_comes(green):
    green.on_request = None
    green.default = Reply(json={"idMessage": "EARLY1"})
    stored(bodies.outgoing_status("delivered", id_message="EARLY1"))
    stored(bodies.outgoing_status("sent", id_message="EARLY1"))
    row = outbound()
    assert outbound_send(outbound_id=row.pk).outcome == "sent"
    row.refresh_from_db()
    assert row.status == S.DELIVERED


def test_a_redelivered_task_finding_its_row_stuck_in_sending_marks_it_unknown_and_sends_nothing(green, settings):
    settings.OUTBOX_SENDING_STALE_SECONDS = 60
    row = outbound(S.SENDING, sending_at=ago(120))
    assert (outbound_send(outbound_id=row.pk).status) == S.UNKNOWN
    row.refresh_from_db()
    assert row.status == S.UNKNOWN
    assert green.count(SEND) == 0


def test_the_answer_wins_over_an_echo_that_settled_another_row_with_the_same_text(green):
    green.on_request = None
    green.default = Reply(json={"idMessage": "REAL-A"})
    wrong = outbound(S.SENT, text="Thanks!", id_message="REAL-A")  # settled by text while A's answer was on its way
    row = outbound(text="Thanks!")
    assert outbound_send(outbound_id=row.pk).outcome == "sent"
    row.refresh_from_db()
    wrong.refresh_from_db()
    assert (row.status, row.id_message) == (S.SENT, "REAL-A")
    assert (wrong.status, wrong.id_message) == (S.UNKNOWN, "")


def test_a_dead_letter_replay_sends_a_failed_row_once_and_a_second_replay_nothing(green):
    row = outbound(S.FAILED, attempts=5, last_error="not sent after 5 attempts")
    assert outbound_replay(outbound_id=row.pk).outcome == "sent"
    assert outbound_replay(outbound_id=row.pk).outcome == "skipped"
    row.refresh_from_db()
    assert row.status == S.SENT and row.attempts == 6
    assert green.count(SEND) == 1


def test_a_replay_that_fails_again_leaves_the_row_failed_for_its_letter(green):
    green.queue(Reply(status=503), Reply(status=503), path=SEND)
    row = outbound(S.FAILED, attempts=1)
    attempt = outbound_replay(outbound_id=row.pk)
    assert attempt.outcome == "exhausted"
    row.refresh_from_db()
    assert row.status == S.FAILED


def test_a_replay_while_the_breaker_is_open_waits_in_failed_without_spending_an_attempt(green):
    get_circuit_breaker("green_api").set_state("forced_open")
    row = outbound(S.FAILED, attempts=3)
    attempt = outbound_replay(outbound_id=row.pk)
    assert attempt.outcome == "deferred" and type(attempt.error).__name__ == "CircuitOpenError"
    row.refresh_from_db()
    assert (row.status, row.attempts) == (S.FAILED, 3)
