"""Dead letters of messaging replay through the handlers registered in MessagingConfig.ready."""

from __future__ import annotations

import pytest

from messaging.models import OutboundStatus as S
from messaging.models import ProcessingStatus
from reliability.dlq.models import DeadLetterStatus
from reliability.dlq.registry import get_handler
from reliability.dlq.services import dead_letter_add, dead_letter_replay
from reliability.errors import TransientError
from tests.httpserver import Reply
from tests.integration.outbox.rows import outbound, stored
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def letter(message_type: str, task: str, row_id: int):
    return dead_letter_add(
        message_type=message_type,
        payload={"task": task, "task_id": "t-1", "args": [row_id], "kwargs": {}},
        error=TransientError("Green API unavailable"),
        source=task,
    )


def test_messaging_registers_its_own_handlers_for_its_message_types():
    from messaging.dlq import replay_inbound_processing, replay_outbound_message

    assert get_handler("whatsapp_message") is replay_outbound_message
    assert get_handler("inbound_processing") is replay_inbound_processing


def test_replaying_a_whatsapp_message_letter_sends_its_row_once(green):
    row = outbound(S.FAILED, attempts=5)
    first = letter("whatsapp_message", "messaging.send_outbound_message", row.pk)
    second = letter("whatsapp_message", "messaging.send_outbound_message", row.pk)
    assert dead_letter_replay(letter_id=first.pk).outcome == "resolved"
    assert dead_letter_replay(letter_id=second.pk).outcome == "resolved"
    row.refresh_from_db()
    assert row.status == S.SENT
    assert green.count("/sendMessage/") == 1


def test_a_replay_that_fails_again_is_backed_off_by_the_letter(green):
    green.queue(Reply(status=503), Reply(status=503), path="/sendMessage/")
    row = outbound(S.FAILED, attempts=5)
    result = dead_letter_replay(letter_id=letter("whatsapp_message", "messaging.send_outbound_message", row.pk).pk)
    assert (result.outcome, result.status) == ("failed", DeadLetterStatus.PENDING)
    row.refresh_from_db()
    assert row.status == S.FAILED


def test_replaying_an_inbound_processing_letter_processes_the_event_once():
    event = stored(bodies.state_changed("blocked", timestamp=1764329999))
    event.processing_status = ProcessingStatus.FAILED
    event.save(update_fields=["processing_status"])
    first = letter("inbound_processing", "messaging.process_webhook_event", event.pk)
    assert dead_letter_replay(letter_id=first.pk).outcome == "resolved"
    event.refresh_from_db()
    assert event.processing_status == ProcessingStatus.PROCESSED
    assert event.instance_state.state == "blocked"
    second = letter("inbound_processing", "messaging.process_webhook_event", event.pk)
    assert dead_letter_replay(letter_id=second.pk).outcome == "resolved"


def test_a_letter_without_a_row_id_is_exhausted_with_the_reason():
    broken = dead_letter_add(
        message_type="whatsapp_message", payload={"args": []}, error=TransientError("x"), source="test"
    )
    result = dead_letter_replay(letter_id=broken.pk)
    assert result.status == DeadLetterStatus.EXHAUSTED
    assert "no row id" in result.error_message
