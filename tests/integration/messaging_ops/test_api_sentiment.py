"""POST /api/v1/sentiment/ against a loopback DeepSeek: its answer, or the fallback marked degraded."""

from __future__ import annotations

import pytest

from reliability.breaker.services import breaker_force_open
from tests.httpserver import Reply
from tests.integration.messaging.conftest import completion

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

URL = "/api/v1/sentiment/"
COMPLETIONS = "/chat/completions"


@pytest.fixture
def analyst(messaging_user, api_client_for):
    return api_client_for(messaging_user("view_sentimentresult", username="analyst"))


def test_deepseek_answers_and_the_result_is_not_degraded(analyst, deepseek):
    deepseek.queue(Reply(json=completion('{"label": "negative", "score": -0.7}')), path=COMPLETIONS)

    response = analyst.post(URL, {"text": "My order never arrived"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body | {"latency_ms": 0} == {
        "label": "negative",
        "score": -0.7,
        "source": "deepseek",
        "model": "deepseek-v4-flash",
        "latency_ms": 0,
        "degraded": False,
    }
    assert deepseek.count(COMPLETIONS) == 1
    assert "My order never arrived" in deepseek.received(COMPLETIONS)[0].body.decode()


def test_deepseek_failing_is_answered_by_the_fallback_marked_degraded(analyst, deepseek):
    deepseek.default = Reply(status=503, json={"error": {"message": "busy"}})

    response = analyst.post(URL, {"text": "I love it, thank you so much!"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["degraded"] is True and body["source"] == "fallback" and body["model"] == "vader"
    assert body["label"] == "positive" and body["score"] > 0.5
    assert deepseek.count(COMPLETIONS) >= 1


def test_an_open_breaker_is_answered_by_the_fallback_without_calling_deepseek(analyst, deepseek):
    breaker_force_open(name="deepseek", actor=None, channel="cli", reason="test")

    response = analyst.post(URL, {"text": "This is terrible"}, format="json")

    assert response.status_code == 200
    assert response.json()["degraded"] is True and response.json()["label"] == "negative"
    assert deepseek.count(COMPLETIONS) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"text": "a" * 20_001}, "at most 20000 are allowed"),
        ({"text": ""}, "must not be empty"),
        ({"text": 3}, "Not a valid string"),
        ({}, "required"),
    ],
)
def test_bad_text_is_400_before_any_call(analyst, deepseek, body, message):
    response = analyst.post(URL, body, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()["text"])
    assert deepseek.count(COMPLETIONS) == 0


def test_a_text_of_exactly_20000_characters_is_analysed(analyst, deepseek):
    response = analyst.post(URL, {"text": "ok " * 6_666 + "ok"}, format="json")
    assert response.status_code == 200


def test_analysing_needs_the_view_sentimentresult_permission(messaging_user, api_client_for, deepseek, client):
    other = api_client_for(messaging_user("add_outboundmessage", username="sender"))
    response = other.post(URL, {"text": "hi"}, format="json")
    assert response.status_code == 403
    assert "messaging.view_sentimentresult" in response.json()["detail"]
    assert client.post(URL, {"text": "hi"}, content_type="application/json").status_code == 401
    assert deepseek.count(COMPLETIONS) == 0
