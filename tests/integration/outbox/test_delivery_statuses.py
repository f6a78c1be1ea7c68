"""outgoingMessageStatus moves outbox rows forward only; echoes of our sends settle unknown rows."""

from __future__ import annotations

import pytest

from messaging.models import OutboundStatus as S
from messaging.models import ProcessingStatus
from messaging.services.delivery import outbound_apply_stored_statuses, outbound_status_apply
from messaging.services.pipeline import webhook_event_process
from messaging.services.reconcile import outbound_settle_from_events
from tests.integration.outbox.rows import CHAT, ago, outbound, stored
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def apply(status: str, id_message: str = "OUT1", **kwargs) -> str:
    return outbound_status_apply(chat_id=CHAT, id_message=id_message, status=status, **kwargs)


def test_statuses_move_a_sent_row_forward_to_delivered_then_read():
    row = outbound(S.SENT, id_message="OUT1")
    assert apply("delivered") == "applied"
    assert apply("read") == "applied"
    row.refresh_from_db()
    assert row.status == S.READ
    assert row.delivered_at is not None and row.read_at is not None


def test_a_status_never_moves_a_row_back():
    row = outbound(S.READ, id_message="OUT1")
    assert apply("delivered") == "not_forward"
    assert apply("sent") == "not_forward"
    assert apply("failed", description="late") == "not_forward"
    row.refresh_from_db()
    assert row.status == S.READ


@pytest.mark.parametrize("status", ["failed", "noAccount", "notInGroup", "yellowCard"])
def test_failure_statuses_fail_a_sent_row_with_their_description(status):
    row = outbound(S.SENT, id_message="OUT1")
    assert apply(status, description="The recipient is not on WhatsApp") == "applied"
    row.refresh_from_db()
    assert row.status == S.FAILED
    assert row.last_error == f"Green API status {status}: The recipient is not on WhatsApp"
    assert row.failed_at is not None


def test_a_status_for_a_message_we_do_not_know_is_stored_processed_and_changes_nothing():
    other = outbound(S.SENT, id_message="MINE")
    event = stored(bodies.outgoing_status("delivered", id_message="NOT-OURS"))
    assert webhook_event_process(event_id=event.pk) == "no_row"
    event.refresh_from_db()
    other.refresh_from_db()
    assert event.processing_status == ProcessingStatus.PROCESSED
    assert other.status == S.SENT


def test_status_values_we_do_not_act_on_are_ignored():
    outbound(S.SENT, id_message="OUT1")
    assert apply("pending") == "ignored"


def test_statuses_that_arrived_before_the_row_knew_its_id_are_applied_in_order_later():
    stored(bodies.outgoing_status("read", id_message="EARLY"))
    stored(bodies.outgoing_status("delivered", id_message="EARLY"))
    row = outbound(S.SENT, id_message="EARLY")
    assert outbound_apply_stored_statuses(outbound_id=row.pk) == 2
    row.refresh_from_db()
    assert row.status == S.READ


def test_the_echo_of_our_send_settles_an_unknown_row_with_its_id():
    row = outbound(S.UNKNOWN, text="We are on it")
    event = stored(bodies.outgoing_api_message("We are on it", id_message="ECHO1"))
    assert webhook_event_process(event_id=event.pk) == "settled"
    row.refresh_from_db()
    assert (row.status, row.id_message) == (S.SENT, "ECHO1")


def test_an_echo_leaves_a_row_whose_worker_is_still_waiting_for_the_answer_alone():
    row = outbound(S.SENDING, text="We are on it")
    event = stored(bodies.outgoing_api_message("We are on it", id_message="ECHO1"))
    assert webhook_event_process(event_id=event.pk) == "no_row"
    row.refresh_from_db()
    assert (row.status, row.id_message) == (S.SENDING, "")


def test_an_echo_settles_a_sending_row_whose_worker_is_gone(settings):
    settings.OUTBOX_SENDING_STALE_SECONDS = 60
    row = outbound(S.SENDING, text="We are on it", sending_at=ago(120))
    event = stored(bodies.outgoing_api_message("We are on it", id_message="ECHO1"))
    assert webhook_event_process(event_id=event.pk) == "settled"
    row.refresh_from_db()
    assert row.status == S.SENT


def test_an_echo_with_another_text_or_chat_settles_nothing():
    row = outbound(S.UNKNOWN, text="We are on it")
    for body in (
        bodies.outgoing_api_message("Something else", id_message="E1"),
        bodies.outgoing_api_message("We are on it", id_message="E2", chat_id="79005550199@c.us"),
    ):
        assert webhook_event_process(event_id=stored(body).pk) == "no_row"
    row.refresh_from_db()
    assert row.status == S.UNKNOWN


def test_one_echo_settles_one_row_when_two_have_the_same_chat_and_text():
    first = outbound(S.UNKNOWN, text="Thanks!")
    second = outbound(S.UNKNOWN, text="Thanks!")
    webhook_event_process(event_id=stored(bodies.outgoing_api_message("Thanks!", id_message="E1")).pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (S.SENT, S.UNKNOWN)
    webhook_event_process(event_id=stored(bodies.outgoing_api_message("Thanks!", id_message="E2")).pk)
    second.refresh_from_db()
    assert (second.status, second.id_message) == (S.SENT, "E2")


def test_an_echo_of_an_id_a_row_already_has_changes_nothing():
    outbound(S.SENT, text="We are on it", id_message="E1")
    unknown = outbound(S.UNKNOWN, text="We are on it")
    assert (
        webhook_event_process(event_id=stored(bodies.outgoing_api_message("We are on it", id_message="E1")).pk)
        == "known"
    )
    unknown.refresh_from_db()
    assert unknown.status == S.UNKNOWN


def test_an_echo_stored_before_the_row_became_unknown_settles_it_then():
    event = stored(bodies.outgoing_api_message("We are on it", id_message="E1"))
    row = outbound(S.SENDING, text="We are on it")
    assert webhook_event_process(event_id=event.pk) == "no_row"  # its worker still waits for the answer
    row.status = S.UNKNOWN
    row.save(update_fields=["status"])
    assert outbound_settle_from_events(outbound_id=row.pk)
    row.refresh_from_db()
    assert (row.status, row.id_message) == (S.SENT, "E1")


def test_statuses_stored_before_an_unknown_row_was_settled_are_applied_when_it_is():
    stored(bodies.outgoing_status("delivered", id_message="E1"))
    row = outbound(S.UNKNOWN, text="We are on it")
    webhook_event_process(event_id=stored(bodies.outgoing_api_message("We are on it", id_message="E1")).pk)
    row.refresh_from_db()
    assert row.status == S.DELIVERED
