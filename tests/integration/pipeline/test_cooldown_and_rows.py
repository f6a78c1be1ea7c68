"""Database rules of the pipeline: the per-chat cooldown under concurrency, idempotent rows, instance events."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from messaging.models import InstanceStateEvent, OutboundMessage, Trigger, TriggerFiring
from messaging.services.events import ACTED_ON_TYPES
from messaging.services.outbox import outbound_create, outbound_requeue
from messaging.services.pipeline import _HANDLERS, webhook_event_process
from tests.integration.outbox.rows import CHAT, outbound, stored
from tests.integration.webhook import bodies

pytestmark = pytest.mark.integration


def make_trigger(**fields) -> Trigger:
    defaults = {"name": "refund", "keywords": ["refund"], "reply_template": "Hi {sender_name}", "cooldown_seconds": 60}
    return Trigger.objects.create(**{**defaults, **fields})


def test_the_router_handles_exactly_the_types_ingest_hands_it():
    assert set(_HANDLERS) == ACTED_ON_TYPES


@pytest.mark.django_db
def test_a_trigger_fires_once_per_chat_within_its_cooldown():
    from messaging.services.triggers import trigger_claim_cooldown

    trigger = make_trigger()
    now = timezone.now()
    assert trigger_claim_cooldown(trigger=trigger, chat_id=CHAT, inbound=None, now=now)
    assert not trigger_claim_cooldown(trigger=trigger, chat_id=CHAT, inbound=None, now=now + timedelta(seconds=59))
    assert trigger_claim_cooldown(trigger=trigger, chat_id="79005550199@c.us", inbound=None, now=now)
    assert trigger_claim_cooldown(trigger=trigger, chat_id=CHAT, inbound=None, now=now + timedelta(seconds=61))
    assert TriggerFiring.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_workers_checking_the_cooldown_of_one_chat_at_once_fire_once():
    from messaging.services.triggers import trigger_claim_cooldown

    trigger = make_trigger()
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def claim() -> None:
        try:
            with transaction.atomic():
                barrier.wait()
                results.append(trigger_claim_cooldown(trigger=trigger, chat_id=CHAT, inbound=None, now=timezone.now()))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False] * 7 + [True]
    assert TriggerFiring.objects.count() == 1


@pytest.mark.django_db
def test_an_idempotency_key_makes_one_row_however_often_it_is_written(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = outbound_create(chat_id=CHAT, text="Hi", idempotency_key="inbound:1:trigger:1")
        again = outbound_create(chat_id=CHAT, text="Hi", idempotency_key="inbound:1:trigger:1")
    assert first.pk == again.pk
    assert OutboundMessage.objects.count() == 1
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_only_a_failed_row_can_be_requeued():
    failed, sent = outbound("failed"), outbound("sent", id_message="X")
    assert outbound_requeue(outbound_id=failed.pk)
    assert not outbound_requeue(outbound_id=sent.pk)
    failed.refresh_from_db()
    assert (failed.status, failed.next_attempt_at) == ("queued", None)


@pytest.mark.django_db
def test_state_and_quota_events_are_recorded_once():
    state = stored(bodies.state_changed("notAuthorized", timestamp=1764326500))
    quota = stored(bodies.quota_exceeded(timestamp=1764326600))
    for event in (state, quota, state):
        webhook_event_process(event_id=event.pk)
    records = {record.kind: record for record in InstanceStateEvent.objects.all()}
    assert set(records) == {"state_changed", "quota_exceeded"}
    assert records["state_changed"].state == "notAuthorized"
    assert records["quota_exceeded"].state == "CORRESPONDENTS_QUOTA_EXCEEDED"
    assert records["quota_exceeded"].detail["total"] == 3
    assert records["state_changed"].occurred_at.timestamp() == 1764326500
