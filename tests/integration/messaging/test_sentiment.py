"""``sentiment_analyze`` over real sockets: DeepSeek when it answers, the lexicon fallback,
marked degraded and counted, whenever it does not."""

from __future__ import annotations

import pytest

from messaging.sentiment import sentiment_analyze
from reliability.breaker.breaker import get_circuit_breaker
from tests.httpserver import Reply
from tests.integration.messaging.conftest import TIMEOUT, completion, metric


def fallbacks(reason: str) -> float:
    return metric("fallback_usage_total", service="deepseek", reason=reason)


def test_deepseek_answers_when_it_is_up(deepseek):
    deepseek.queue(Reply(json=completion('{"label": "negative", "score": -0.7}')))
    before = fallbacks("failed")
    outcome = sentiment_analyze(text="My order never arrived")
    assert (outcome.label, outcome.score, outcome.source) == ("negative", -0.7, "deepseek")
    assert (outcome.model, outcome.degraded, outcome.error_class) == ("deepseek-v4-flash", False, "")
    assert fallbacks("failed") == before


@pytest.mark.parametrize(
    "reply, error_class",
    [
        (Reply(status=500), "UpstreamUnavailable"),
        (Reply(status=402, json={"error": {"message": "Insufficient Balance"}}), "DeepSeekRejected"),
        (Reply(json=completion("")), "InvalidResponse"),
        (Reply(delay=TIMEOUT + 0.3), "UpstreamUnavailable"),
    ],
)
def test_a_failing_deepseek_gives_the_fallback_marked_degraded(deepseek, reply, error_class):
    deepseek.queue(reply, reply)
    before = fallbacks("failed")
    outcome = sentiment_analyze(text="Thank you so much, this is great!")
    assert (outcome.label, outcome.source, outcome.model) == ("positive", "fallback", "vader")
    assert outcome.degraded is True
    assert outcome.error_class == error_class
    assert 0 < outcome.score <= 1
    assert fallbacks("failed") == before + 1


def test_an_open_breaker_gives_the_fallback_without_a_request(deepseek):
    get_circuit_breaker("deepseek").set_state("forced_open", note="test")
    before = fallbacks("circuit_open")
    outcome = sentiment_analyze(text="This is terrible, I want a refund")
    assert (outcome.label, outcome.degraded, outcome.error_class) == ("negative", True, "CircuitOpenError")
    assert deepseek.count() == 0
    assert fallbacks("circuit_open") == before + 1


def test_allow_ai_false_never_calls_deepseek(deepseek):
    before = fallbacks("not_allowed")
    outcome = sentiment_analyze(text="ok", allow_ai=False)
    assert (outcome.source, outcome.degraded, outcome.error_class) == ("fallback", True, "")
    assert deepseek.count() == 0
    assert fallbacks("not_allowed") == before + 1


def test_deepseek_unreachable_gives_the_fallback(settings):
    from tests.services import free_port

    settings.DEEPSEEK_BASE_URL = f"http://127.0.0.1:{free_port()}"
    outcome = sentiment_analyze(text="Where is my parcel?")
    assert (outcome.source, outcome.degraded, outcome.error_class) == ("fallback", True, "UpstreamUnavailable")


def test_a_missing_key_gives_the_fallback(settings):
    settings.DEEPSEEK_API_KEY = None
    outcome = sentiment_analyze(text="Great service")
    assert (outcome.source, outcome.label, outcome.error_class) == ("fallback", "positive", "ImproperlyConfigured")


@pytest.mark.parametrize("text", ["", "\x00\x00", "x" * 20_001, "\ud800 broken", "Заказ не пришёл", "😡😡😡"])
def test_any_text_gets_an_answer(deepseek, text):
    outcome = sentiment_analyze(text=text)
    assert outcome.label in ("positive", "neutral", "negative")
    assert -1.0 <= outcome.score <= 1.0


def test_the_fallback_counter_reaches_the_metrics_endpoint(client, settings):
    settings.METRICS_TOKEN = "scrape-token-123456"
    sentiment_analyze(text="fine", allow_ai=False)
    body = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123456"}).content.decode()
    assert 'fallback_usage_total{reason="not_allowed",service="deepseek"}' in body
