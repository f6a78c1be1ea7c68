"""Processing under the gates: sentiment without DeepSeek from minor on, incoming texts held
from severe on (no reply written), every event stored only at critical."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY

from messaging.models import OutboundMessage, ProcessingStatus, SentimentResult, Trigger, WebhookEvent
from messaging.models import OutboundStatus as S
from messaging.services.pipeline import webhook_event_process
from tests.integration.outbox.rows import CHAT, outbound, stored
from tests.integration.webhook import bodies
from tests.integration.webhook.test_webhook import URL

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

COMPLETIONS = "/chat/completions"


@pytest.fixture
def orders(db) -> Trigger:
    return Trigger.objects.create(name="orders", keywords=["order"], reply_template="Sorry {sender_name}!")


def fallback_used(service: str, reason: str) -> float:
    return REGISTRY.get_sample_value("fallback_usage_total", {"service": service, "reason": reason}) or 0.0


def post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json", headers=bodies.auth_header())


def test_at_minor_sentiment_comes_from_the_fallback_without_asking_deepseek_and_the_reply_is_written(
    deepseek, level, orders
):
    level.set("minor")
    before = fallback_used("deepseek", "not_allowed")
    event = stored(bodies.incoming_text("My order never arrived, I am very angry"))
    assert webhook_event_process(event_id=event.pk) == "replied"
    assert deepseek.count(COMPLETIONS) == 0
    sentiment = SentimentResult.objects.get(inbound=event)
    assert (sentiment.source, sentiment.model, sentiment.degraded, sentiment.label) == (
        "fallback",
        "vader",
        True,
        "negative",
    )
    assert fallback_used("deepseek", "not_allowed") == before + 1
    assert OutboundMessage.objects.get().text == "Sorry Anna!"


def test_the_sentiment_api_at_minor_answers_from_the_fallback_without_asking_deepseek(
    deepseek, level, messaging_user, api_client_for
):
    analyst = api_client_for(messaging_user("view_sentimentresult", username="analyst"))
    level.set("minor")
    response = analyst.post("/api/v1/sentiment/", {"text": "I love it, thank you so much!"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["source"], body["model"], body["degraded"], body["label"]) == ("fallback", "vader", True, "positive")
    assert deepseek.count(COMPLETIONS) == 0
    level.clear()
    assert analyst.post("/api/v1/sentiment/", {"text": "fine"}, format="json").json()["source"] == "deepseek"


def test_at_normal_deepseek_is_asked(deepseek, orders):
    event = stored(bodies.incoming_text("My order never arrived"))
    webhook_event_process(event_id=event.pk)
    assert deepseek.count(COMPLETIONS) == 1
    assert SentimentResult.objects.get(inbound=event).source == "deepseek"


@pytest.mark.parametrize("name", ["severe", "critical"])
def test_above_auto_replies_level_an_incoming_text_is_held_with_nothing_written(deepseek, level, orders, name):
    event = stored(bodies.incoming_text("My order never arrived"))
    level.set(name)
    assert webhook_event_process(event_id=event.pk) == "held"
    # A redelivered task (or the sweeper's second copy) finds it held and writes nothing either.
    assert webhook_event_process(event_id=event.pk) == "held"
    event.refresh_from_db()
    assert (event.processing_status, event.processed_at) == (ProcessingStatus.HELD, None)
    assert not SentimentResult.objects.exists()
    assert not OutboundMessage.objects.exists()
    assert deepseek.count(COMPLETIONS) == 0


def test_at_moderate_replies_are_still_written(deepseek, level, orders):
    level.set("moderate")
    event = stored(bodies.incoming_text("My order never arrived"))
    assert webhook_event_process(event_id=event.pk) == "replied"
    assert deepseek.count(COMPLETIONS) == 0, "ai_sentiment runs up to normal only"


def test_at_severe_delivery_statuses_are_still_processed(level):
    row = outbound(S.SENT, id_message="3EB0AAAA000000000001")
    event = stored(bodies.outgoing_status("delivered", id_message=row.id_message))
    level.set("severe")
    assert webhook_event_process(event_id=event.pk) == "applied"
    row.refresh_from_db()
    assert row.status == S.DELIVERED


def test_at_critical_a_status_event_is_held_too(level):
    row = outbound(S.SENT, id_message="3EB0AAAA000000000002")
    event = stored(bodies.outgoing_status("delivered", id_message=row.id_message))
    level.set("critical")
    assert webhook_event_process(event_id=event.pk) == "held"
    row.refresh_from_db()
    assert row.status == S.SENT


def test_at_critical_a_webhook_is_answered_200_and_stored_held_without_a_processing_task(
    client, level, django_capture_on_commit_callbacks
):
    level.set("critical")
    with django_capture_on_commit_callbacks() as callbacks:
        text = post(client, bodies.incoming_text("My order never arrived", id_message="C1"))
        status = post(client, bodies.outgoing_status("read", id_message="3EB0AAAA000000000003"))
        ignored = post(client, {"typeWebhook": "deviceInfo", "instanceData": bodies.instance_data(), "n": 1})
        again = post(client, bodies.incoming_text("My order never arrived", id_message="C1"))
    assert [r.status_code for r in (text, status, ignored, again)] == [200] * 4
    assert [r.json()["status"] for r in (text, status, ignored, again)] == ["stored", "stored", "stored", "duplicate"]
    assert callbacks == [], "nothing is handed to Celery while processing is off"
    statuses = dict(WebhookEvent.objects.values_list("type_webhook", "processing_status"))
    assert statuses == {
        "incomingMessageReceived": ProcessingStatus.HELD,
        "outgoingMessageStatus": ProcessingStatus.HELD,
        "deviceInfo": ProcessingStatus.IGNORED,
    }


def test_at_severe_a_webhook_is_stored_pending_and_handed_on(client, level, django_capture_on_commit_callbacks):
    level.set("severe")
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, bodies.incoming_text("My order never arrived"))
    assert response.json() == {"status": "stored"}
    assert len(callbacks) == 1
    assert WebhookEvent.objects.get().processing_status == ProcessingStatus.PENDING


def test_a_held_text_processed_once_the_level_dropped_gets_deepseeks_sentiment_and_its_one_reply(
    deepseek, level, orders
):
    event = stored(bodies.incoming_text("My order never arrived"))
    level.set("severe")
    webhook_event_process(event_id=event.pk)
    level.clear()
    assert webhook_event_process(event_id=event.pk) == "replied"
    assert webhook_event_process(event_id=event.pk) == "skipped"
    assert SentimentResult.objects.get(inbound=event).source == "deepseek"
    assert list(OutboundMessage.objects.values_list("chat_id", "text")) == [(CHAT, "Sorry Anna!")]


def test_in_read_only_mode_a_webhook_is_refused_with_503_and_retry_after_so_green_api_redelivers(
    client, settings, level, green
):
    from reliability.degradation.services import degradation_evaluate

    settings.DEGRADATION_READ_ONLY = True
    with level.capture(execute=True):
        degradation_evaluate()
    response = post(client, bodies.incoming_text("My order never arrived"))
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "read-only" in response.json()["detail"]
    assert not WebhookEvent.objects.exists()
