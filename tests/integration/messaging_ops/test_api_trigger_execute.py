"""POST /api/v1/triggers/{id}/execute/: render, honour enabled and the cooldown, queue through the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import OutboundMessage, TriggerFiring

pytestmark = pytest.mark.django_db

CHAT = "79005550101@c.us"


def url(pk) -> str:
    return f"/api/v1/triggers/{pk}/execute/"


@pytest.fixture
def runner(messaging_user, api_client_for):
    return api_client_for(messaging_user("execute_trigger", username="runner"))


def test_execute_renders_the_template_and_queues_the_reply(runner, make_trigger):
    trigger = make_trigger(reply_template="Sorry, {sender_name}: we read “{text}” ({sentiment}) in {chat_id}")

    response = runner.post(
        url(trigger.pk),
        {
            "phone": "+7 900 555-01-01",
            "text": "where is {sender_name}?",
            "sender_name": "Анна",
            "sentiment": "negative",
        },
        format="json",
    )

    assert response.status_code == 202, response.json()
    row = OutboundMessage.objects.get(pk=response.json()["id"])
    assert row.text == f"Sorry, Анна: we read “where is {{sender_name}}?” (negative) in {CHAT}"
    assert row.trigger == trigger and row.chat_id == CHAT and row.status == "queued"
    assert response.json()["trigger"] == trigger.pk
    assert TriggerFiring.objects.filter(trigger=trigger, chat_id=CHAT).count() == 1


def test_a_disabled_trigger_is_409_and_queues_nothing(runner, make_trigger):
    trigger = make_trigger(enabled=False)
    response = runner.post(url(trigger.pk), {"chat_id": CHAT, "force": True}, format="json")
    assert response.status_code == 409
    assert response.json()["reason"] == "disabled"
    assert not OutboundMessage.objects.exists() and not TriggerFiring.objects.exists()


def test_the_cooldown_is_409_with_the_next_allowed_time_unless_forced(runner, make_trigger):
    trigger = make_trigger(cooldown_seconds=600)
    fired = timezone.now() - timedelta(seconds=60)
    TriggerFiring.objects.create(trigger=trigger, chat_id=CHAT, fired_at=fired)

    refused = runner.post(url(trigger.pk), {"chat_id": CHAT}, format="json")
    assert refused.status_code == 409
    body = refused.json()
    assert body["reason"] == "cooldown" and "force=true" in body["detail"]
    assert body["next_allowed_at"].startswith((fired + timedelta(seconds=600)).strftime("%Y-%m-%dT%H:%M"))
    assert not OutboundMessage.objects.exists()

    other_chat = runner.post(url(trigger.pk), {"chat_id": "79007770000@c.us"}, format="json")
    assert other_chat.status_code == 202  # the cooldown is per chat

    forced = runner.post(url(trigger.pk), {"chat_id": CHAT, "force": True}, format="json")
    assert forced.status_code == 202
    assert TriggerFiring.objects.filter(trigger=trigger, chat_id=CHAT).count() == 2  # the forced one counts too
    assert runner.post(url(trigger.pk), {"chat_id": CHAT}, format="json").status_code == 409


def test_conditions_are_not_evaluated_a_person_asked_for_this_reply(runner, make_trigger):
    trigger = make_trigger(keywords=["refund"], chat_ids=["79001112233@c.us"], sentiment_labels=["negative"])
    response = runner.post(url(trigger.pk), {"chat_id": CHAT, "text": "hello"}, format="json")
    assert response.status_code == 202


def test_a_template_that_renders_empty_is_400_on_reply(runner, make_trigger):
    trigger = make_trigger(reply_template="{text}")
    response = runner.post(url(trigger.pk), {"chat_id": CHAT}, format="json")
    assert response.status_code == 400
    assert "the rendered reply must not be empty" in response.json()["reply"][0]
    assert not TriggerFiring.objects.exists()


def test_a_rendered_reply_longer_than_green_api_takes_is_cut_to_20000_characters(runner, make_trigger):
    trigger = make_trigger(reply_template="{text}{text}")
    response = runner.post(url(trigger.pk), {"chat_id": CHAT, "text": "x" * 15_000}, format="json")
    assert response.status_code == 202
    assert len(OutboundMessage.objects.get().text) == 20_000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "chat_id"),
        ({"chat_id": "nope"}, "chat_id"),
        ({"chat_id": CHAT, "force": "yes"}, "force"),
        ({"chat_id": CHAT, "sentiment": "furious"}, "sentiment"),
        ({"chat_id": CHAT, "text": 5}, "text"),
        ({"chat_id": CHAT, "text": "x" * 20_001}, "text"),
        ({"chat_id": CHAT, "sender_name": ["a"]}, "sender_name"),
        ({"chat_id": CHAT, "sender_name": "n" * 256}, "sender_name"),
    ],
)
def test_bad_input_is_400_naming_the_field(runner, make_trigger, body, field):
    trigger = make_trigger()
    response = runner.post(url(trigger.pk), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not OutboundMessage.objects.exists()


def test_a_repeated_idempotency_key_returns_the_first_reply_and_fires_once(runner, make_trigger):
    trigger = make_trigger(cooldown_seconds=600)
    first = runner.post(url(trigger.pk), {"chat_id": CHAT}, format="json", headers={"Idempotency-Key": "run-1"})
    again = runner.post(url(trigger.pk), {"chat_id": CHAT}, format="json", headers={"Idempotency-Key": "run-1"})
    assert first.status_code == again.status_code == 202  # not the cooldown's 409
    assert first.json()["id"] == again.json()["id"]
    assert TriggerFiring.objects.count() == 1
    other_chat = runner.post(
        url(trigger.pk), {"chat_id": "79007770000@c.us"}, format="json", headers={"Idempotency-Key": "run-1"}
    )
    assert other_chat.status_code == 409 and other_chat.json()["reason"] == "idempotency_conflict"


@pytest.mark.parametrize("pk", ["999999", "abc", "99999999999999999999999"])
def test_unknown_triggers_are_404(runner, pk):
    response = runner.post(url(pk), {"chat_id": CHAT}, format="json")
    assert response.status_code == 404


def test_execute_needs_the_execute_trigger_permission(messaging_user, api_client_for, make_trigger):
    trigger = make_trigger()
    editor = api_client_for(
        messaging_user("view_trigger", "add_trigger", "change_trigger", "add_outboundmessage", username="editor")
    )
    response = editor.post(url(trigger.pk), {"chat_id": CHAT}, format="json")
    assert response.status_code == 403
    assert "messaging.execute_trigger" in response.json()["detail"]
    assert not OutboundMessage.objects.exists()
