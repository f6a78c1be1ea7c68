"""An incoming text: sentiment, triggers, at most one reply written with the event's new status."""

from __future__ import annotations

import pytest

from messaging.models import OutboundMessage, ProcessingStatus, SentimentResult, Trigger
from messaging.services.pipeline import webhook_event_process
from tests.httpserver import Reply
from tests.integration.messaging.conftest import completion
from tests.integration.outbox.rows import CHAT, stored
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def trigger(name: str, **fields) -> Trigger:
    defaults = {"keywords": ["order"], "reply_template": "Sorry {sender_name}, about: {text}"}
    return Trigger.objects.create(name=name, **{**defaults, **fields})


def process(text: str = "My order never arrived", **kwargs):
    event = stored(bodies.incoming_text(text, **kwargs))
    return event, webhook_event_process(event_id=event.pk)


def test_a_matching_message_gets_its_sentiment_and_one_rendered_reply_in_the_outbox(
    deepseek, django_capture_on_commit_callbacks
):
    deepseek.default = Reply(json=completion('{"label": "negative", "score": -0.7}'))
    trigger("late order", sentiment_labels=["negative"])
    with django_capture_on_commit_callbacks() as callbacks:
        event, outcome = process()
    assert outcome == "replied"
    event.refresh_from_db()
    assert event.processing_status == ProcessingStatus.PROCESSED
    sentiment = SentimentResult.objects.get(inbound=event)
    assert (sentiment.label, sentiment.score, sentiment.source, sentiment.degraded) == (
        "negative",
        -0.7,
        "deepseek",
        False,
    )
    assert sentiment.model == "deepseek-v4-flash"
    reply = OutboundMessage.objects.get()
    assert (reply.chat_id, reply.text, reply.status) == (CHAT, "Sorry Anna, about: My order never arrived", "queued")
    assert (reply.inbound_id, reply.trigger.name, reply.idempotency_key) == (
        event.pk,
        "late order",
        f"inbound:{event.pk}:trigger:{reply.trigger_id}",
    )
    assert len(callbacks) == 2, "after commit: the event's processing task, then the reply's send task"


def test_with_deepseek_down_the_fallback_answers_marked_degraded_and_the_reply_still_goes(deepseek):
    deepseek.default = Reply(status=503)
    trigger("late order")
    event, outcome = process("My order never arrived and I am very angry")
    assert outcome == "replied"
    sentiment = SentimentResult.objects.get(inbound=event)
    assert (sentiment.source, sentiment.model, sentiment.degraded) == ("fallback", "vader", True)
    assert sentiment.label == "negative"
    assert sentiment.error_class


def test_the_highest_priority_match_replies_and_only_it(deepseek):
    trigger("low", priority=1, reply_template="low")
    trigger("high", priority=10, reply_template="high")
    trigger("not matching", priority=99, keywords=["refund"], reply_template="never")
    process()
    assert list(OutboundMessage.objects.values_list("text", flat=True)) == ["high"]


def test_a_trigger_in_its_cooldown_for_the_chat_lets_the_next_match_reply(deepseek):
    trigger("high", priority=10, reply_template="high", cooldown_seconds=3600)
    trigger("low", priority=1, reply_template="low")
    process(id_message="M1")
    process(id_message="M2")
    process(id_message="M3", chat_id="79005550199@c.us")
    assert list(OutboundMessage.objects.order_by("id").values_list("chat_id", "text")) == [
        (CHAT, "high"),
        (CHAT, "low"),
        ("79005550199@c.us", "high"),
    ]


def test_a_message_no_trigger_matches_is_processed_without_a_reply(deepseek):
    trigger("refunds", keywords=["refund"], regex=r"(?i)money\s+back")
    event, outcome = process("hello there")
    assert outcome == "processed"
    assert SentimentResult.objects.filter(inbound=event).exists()
    assert not OutboundMessage.objects.exists()


def test_a_disabled_trigger_never_replies(deepseek):
    trigger("off", enabled=False)
    assert process()[1] == "processed"


def test_processing_an_event_twice_writes_one_sentiment_and_one_reply(deepseek):
    trigger("late order")
    event, _ = process()
    assert webhook_event_process(event_id=event.pk) == "skipped"
    assert (SentimentResult.objects.count(), OutboundMessage.objects.count()) == (1, 1)


def test_a_template_that_renders_empty_is_skipped_for_the_next_trigger(deepseek):
    trigger("empty", priority=5, reply_template="{sender_name}")
    trigger("fallback", priority=1, reply_template="We read you")
    process(sender_name="")
    assert list(OutboundMessage.objects.values_list("text", flat=True)) == ["We read you"]
