"""The DeepSeek client over real sockets: the JSON-mode request, validation of what the
model answers, the error mapping, retries, the breaker and the async entry point."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from messaging.clients.deepseek import (
    MAX_TOKENS,
    AsyncDeepSeekClient,
    DeepSeekClient,
    SentimentScore,
    get_async_deepseek_client,
    get_deepseek_client,
)
from messaging.clients.errors import DeepSeekRejected, InvalidRequest, InvalidResponse, UpstreamUnavailable
from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.models import BreakerState
from reliability.errors import CircuitOpenError, RateLimited
from tests.httpserver import Reply
from tests.integration.messaging.conftest import DEEPSEEK_KEY, TIMEOUT, completion

COMPLETIONS = "/chat/completions"


def analyze(text: str = "My order never arrived") -> SentimentScore:
    client = get_deepseek_client()
    assert isinstance(client, DeepSeekClient)
    return client.analyze_sentiment(text)


def test_the_request_uses_json_mode_with_an_example_and_a_small_budget(deepseek):
    deepseek.queue(Reply(json=completion('{"label": "negative", "score": -0.85}')))
    result = analyze("My order never arrived")
    assert (result.label, result.score, result.model) == ("negative", -0.85, "deepseek-v4-flash")
    assert result.latency_ms > 0
    [request] = deepseek.received()
    assert request.method == "POST"
    assert request.path == COMPLETIONS
    assert request.headers["authorization"] == f"Bearer {DEEPSEEK_KEY}"
    body = request.json()
    assert body["model"] == "deepseek-v4-flash"
    assert body["response_format"] == {"type": "json_object"}
    assert body["temperature"] == 0
    assert body["max_tokens"] == MAX_TOKENS <= 64
    assert body["stream"] is False
    system, user = body["messages"]
    assert system["role"] == "system" and "json" in system["content"]
    assert '{"label": "negative", "score": -0.8}' in system["content"]  # the example
    assert user == {"role": "user", "content": "My order never arrived"}


def test_the_model_setting_is_sent(deepseek, settings):
    settings.DEEPSEEK_MODEL = "deepseek-v4-pro"
    deepseek.queue(Reply(json=completion('{"label": "neutral", "score": 0}', model="deepseek-v4-pro")))
    assert analyze().model == "deepseek-v4-pro"
    assert deepseek.received()[0].json()["model"] == "deepseek-v4-pro"


def test_keep_alive_blank_lines_before_the_json_are_read_through(deepseek):
    deepseek.queue(
        Reply(json=completion('{"label": "positive", "score": 0.9}'), blank_lines=4, blank_line_interval=0.05)
    )
    assert analyze().label == "positive"


def test_blank_lines_that_never_end_are_cut_off_at_the_deadline(deepseek):
    # Each blank line arrives well within the read timeout; the whole answer does not.
    hold = Reply(json=completion('{"label": "positive", "score": 0.9}'), blank_lines=40, blank_line_interval=0.1)
    deepseek.queue(hold, hold)
    with pytest.raises(UpstreamUnavailable, match="did not complete"):
        analyze()
    assert deepseek.count() == 2  # retried once, then given up


@pytest.mark.parametrize(
    "content, finish_reason",
    [
        ("", "stop"),
        ("   \n", "stop"),
        ("not json", "stop"),
        ('{"label": "happy", "score": 0.5}', "stop"),
        ('{"label": "positive", "score": 1.5}', "stop"),
        ('{"label": "positive", "score": -1.01}', "stop"),
        ('{"label": "positive", "score": NaN}', "stop"),
        ('{"label": "positive", "score": Infinity}', "stop"),
        ('{"label": "positive", "score": 1e400}', "stop"),
        ('{"label": "positive", "score": "0.5"}', "stop"),
        ('{"label": "positive", "score": true}', "stop"),
        ('{"label": ["positive"], "score": 0.5}', "stop"),
        ('["positive", 0.5]', "stop"),
        ('{"label": "positive", "sc', "length"),
    ],
)
def test_answers_that_break_the_schema_are_failed_calls_and_retried(deepseek, content, finish_reason):
    bad = Reply(json=completion(content, finish_reason=finish_reason))
    deepseek.queue(bad, bad)
    with pytest.raises(InvalidResponse):
        analyze()
    assert deepseek.count() == 2


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body="<html>busy</html>"),
        Reply(json={"choices": []}),
        Reply(json={"choices": [{"message": None}]}),
        Reply(json=[]),
        Reply(body=json.dumps(completion('{"label": "positive", "score": 0.5}')).replace("0.5", "NaN")),
    ],
)
def test_a_garbage_completion_is_an_invalid_response(deepseek, reply):
    deepseek.queue(reply, reply)
    with pytest.raises(InvalidResponse):
        analyze()


def test_a_blank_answer_then_a_good_one_succeeds(deepseek):
    deepseek.queue(Reply(json=completion("")), Reply(json=completion('{"label": "neutral", "score": 0.0}')))
    assert analyze().label == "neutral"
    assert deepseek.count() == 2


def test_upper_case_labels_and_integer_scores_are_accepted(deepseek):
    deepseek.queue(Reply(json=completion('{"label": " Negative ", "score": -1, "reason": "late"}')))
    result = analyze()
    assert (result.label, result.score) == ("negative", -1.0)


def test_a_content_filtered_answer_is_rejected_for_this_message(deepseek):
    deepseek.queue(Reply(json=completion("", finish_reason="content_filter")))
    with pytest.raises(DeepSeekRejected):
        analyze()
    assert deepseek.count() == 1


@pytest.mark.parametrize("status", [400, 401, 402, 422])
def test_4xx_answers_are_rejected_without_retry_and_do_not_open_the_breaker(deepseek, status):
    deepseek.queue(*[Reply(status=status, json={"error": {"message": "Insufficient Balance"}})] * 5)
    for _ in range(5):
        with pytest.raises(DeepSeekRejected) as raised:
            analyze()
    assert raised.value.status == status
    assert raised.value.description == "Insufficient Balance"
    assert deepseek.count() == 5
    assert get_circuit_breaker("deepseek").state == BreakerState.CLOSED


@pytest.mark.parametrize("status, error", [(429, RateLimited), (500, UpstreamUnavailable), (503, UpstreamUnavailable)])
def test_429_500_and_503_are_retried(deepseek, status, error):
    deepseek.queue(Reply(status=status))
    assert analyze().label == "positive"
    assert deepseek.count() == 2
    deepseek.queue(Reply(status=status), Reply(status=status))
    with pytest.raises(error):
        analyze()


def test_a_503_with_retry_after_waits_that_long(deepseek):
    deepseek.queue(Reply(status=503, headers={"Retry-After": "0.08"}))
    assert analyze().label == "positive"
    first, second = deepseek.received()
    assert second.at - first.at >= 0.08


def test_a_read_timeout_is_retried(deepseek):
    deepseek.queue(Reply(delay=TIMEOUT + 0.3))
    assert analyze().label == "positive"
    assert deepseek.count() == 2


def test_the_breaker_opens_on_failures_and_then_rejects_without_a_request(deepseek):
    breaker = get_circuit_breaker("deepseek")
    deepseek.queue(*[Reply(status=500)] * 20)
    for _ in range(breaker.config.failure_threshold):
        try:
            analyze()
        except UpstreamUnavailable:
            continue
        except CircuitOpenError:
            break
    assert breaker.state == BreakerState.OPEN
    seen = deepseek.count()
    assert seen == breaker.config.failure_threshold
    with pytest.raises(CircuitOpenError):
        analyze()
    assert deepseek.count() == seen


def test_answers_larger_than_the_cap_are_refused(deepseek):
    huge = Reply(json=completion('{"label": "positive", "score": 0.5}' + " " * 300_000))
    deepseek.queue(huge, huge)
    with pytest.raises(InvalidResponse, match="larger than"):
        analyze()


@pytest.mark.parametrize("text", ["", "   ", "x" * 20_001, "a\x00b", "\ud800"])
def test_text_that_cannot_be_analysed_is_refused_before_any_call(deepseek, text):
    with pytest.raises(InvalidRequest):
        analyze(text)
    assert deepseek.count() == 0


def test_non_ascii_text_is_sent_as_is(deepseek):
    analyze("Заказ так и не пришёл 😡")
    assert deepseek.received()[0].json()["messages"][1]["content"] == "Заказ так и не пришёл 😡"


def test_awaiting_the_seed_entry_point_inside_an_event_loop(deepseek):
    deepseek.queue(Reply(json=completion('{"label": "negative", "score": -0.6}')))

    async def scenario() -> SentimentScore:
        client = get_deepseek_client()
        assert isinstance(client, AsyncDeepSeekClient)
        try:
            return await client.analyze_sentiment("Still waiting for my refund")
        finally:
            await sync_to_async(connections.close_all)()

    result = asyncio.run(scenario())
    assert (result.label, result.score) == ("negative", -0.6)
    assert deepseek.received()[0].json()["messages"][1]["content"] == "Still waiting for my refund"


def test_the_explicit_async_client_works_outside_a_loop_too(deepseek):
    client = get_async_deepseek_client()

    async def scenario() -> str:
        try:
            return (await client.analyze_sentiment("Thank you!")).label
        finally:
            await sync_to_async(connections.close_all)()

    assert asyncio.run(scenario()) == "positive"
