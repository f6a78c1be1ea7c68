"""The DeepSeek stand-in answers chat completions in DeepSeek's shape, and fails on demand."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from sandbox import defaults, sentiment_of

AUTH = {"Authorization": f"Bearer {defaults.DEEPSEEK_API_KEY}"}
SYSTEM = 'Classify the sentiment of the user message. Answer json like {"label": "neutral", "score": 0.0}.'


def _body(text: str, **extra):
    return {
        "model": "deepseek-v4-flash",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        "response_format": {"type": "json_object"},
        "temperature": 0,
        **extra,
    }


def _complete(deepseek, body, *, path="/chat/completions", headers=AUTH, timeout=10):
    return requests.post(f"{deepseek.url}{path}", json=body, headers=headers, timeout=timeout)


@pytest.mark.parametrize(
    "text, label",
    [
        ("My order never arrived and support is terrible", "negative"),
        ("Thank you, great service, everything is perfect", "positive"),
        ("What time do you open on Saturday?", "neutral"),
    ],
)
def test_json_mode_answers_a_completion_whose_content_is_label_and_score(deepseek, text, label):
    response = _complete(deepseek, _body(text))
    assert response.status_code == 200
    completion = response.json()
    assert completion["object"] == "chat.completion"
    assert completion["model"] == "deepseek-v4-flash"
    assert isinstance(completion["created"], int) and completion["id"]
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    verdict = json.loads(choice["message"]["content"])
    assert verdict["label"] == label
    assert -1 <= verdict["score"] <= 1 and (verdict["score"] > 0) == (label == "positive")
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"] == usage["prompt_tokens"]


def test_the_verdict_is_deterministic():
    assert sentiment_of("Terrible, just terrible. Never again!") == sentiment_of(
        "Terrible, just terrible. Never again!"
    )
    assert sentiment_of("Terrible, just terrible. Never again!") == ("negative", -0.75)
    assert sentiment_of("") == ("neutral", 0.0)
    assert sentiment_of("good but late") == ("neutral", 0.0)


def test_the_v1_path_and_content_parts_work_too(deepseek):
    body = _body("")
    body["messages"][1]["content"] = [{"type": "text", "text": "I love it"}]
    response = _complete(deepseek, body, path="/v1/chat/completions")
    assert json.loads(response.json()["choices"][0]["message"]["content"])["label"] == "positive"


def test_text_mode_answers_plain_text(deepseek):
    body = _body("great")
    del body["response_format"]
    assert _complete(deepseek, body).json()["choices"][0]["message"]["content"] == "positive 0.5"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": defaults.DEEPSEEK_API_KEY}]
)
def test_a_missing_or_wrong_key_is_401(deepseek, headers):
    response = _complete(deepseek, _body("hi"), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert defaults.DEEPSEEK_API_KEY not in response.text


def test_json_mode_needs_the_word_json_in_the_prompt(deepseek):
    body = _body("hello")
    body["messages"][0]["content"] = "Classify the sentiment."
    response = _complete(deepseek, body)
    assert response.status_code == 400
    assert "json" in response.json()["error"]["message"]


def test_an_unknown_or_retired_model_is_400(deepseek):
    assert _complete(deepseek, _body("hi", model="deepseek-chat")).status_code == 400


@pytest.mark.parametrize(
    "change",
    [
        {"messages": []},
        {"messages": "hello json"},
        {"messages": [{"role": "robot", "content": "json"}]},
        {"messages": [{"role": "user"}]},
        {"model": 5},
        {"temperature": 5},
        {"temperature": "warm"},
        {"max_tokens": 0},
        {"response_format": {"type": "yaml"}},
        {"stream": True},
    ],
)
def test_bad_parameters_are_422(deepseek, change):
    response = _complete(deepseek, {**_body("hi"), **change})
    assert response.status_code == 422
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("raw", [b"{", b"[1]", b'{"temperature": NaN}', b"\xff"])
def test_a_body_that_is_not_a_json_object_is_400(deepseek, raw):
    response = requests.post(f"{deepseek.url}/chat/completions", data=raw, headers=AUTH, timeout=10)
    assert response.status_code == 400


def test_other_paths_are_404(deepseek):
    assert requests.get(f"{deepseek.url}/models", headers=AUTH, timeout=10).status_code == 404
    assert requests.get(f"{deepseek.url}/chat/completions", headers=AUTH, timeout=10).status_code == 405


def test_blank_mode_answers_empty_content_with_finish_reason_stop(deepseek):
    deepseek.control(mode="blank")
    [choice] = _complete(deepseek, _body("hi")).json()["choices"]
    assert choice["message"]["content"] == "" and choice["finish_reason"] == "stop"


def test_invalid_json_mode_answers_content_that_does_not_parse(deepseek):
    deepseek.control(mode="invalid_json")
    content = _complete(deepseek, _body("hi")).json()["choices"][0]["message"]["content"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


@pytest.mark.parametrize(
    "mode, status", [("insufficient_balance", 402), ("rate_limited", 429), ("server_error", 500), ("overloaded", 503)]
)
def test_error_modes_answer_deepseeks_error_statuses(deepseek, mode, status):
    deepseek.control(mode=mode)
    response = _complete(deepseek, _body("hi"))
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert deepseek.stats()["completions"] == {mode: 1}


def test_keepalive_blank_lines_come_before_the_json(deepseek):
    deepseek.control(keepalive_lines=4, keepalive_interval_ms=150)
    payload = json.dumps(_body("great")).encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", deepseek.port), timeout=10) as sock:
        sock.sendall(
            b"POST /chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + defaults.DEEPSEEK_API_KEY.encode() + b"\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
        )
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, chunked = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Transfer-Encoding: chunked" in head
    body, rest = b"", chunked
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        body, rest = body + rest[:size], rest[size + 2 :]
    assert body.startswith(b"\n\n\n\n{")
    assert json.loads(body)["object"] == "chat.completion"
    assert time.monotonic() - started >= 0.6


def test_a_client_reads_a_keepalive_answer_as_json(deepseek):
    deepseek.control(keepalive_lines=3, keepalive_interval_ms=50)
    response = _complete(deepseek, _body("terrible"))
    assert response.json()["choices"][0]["message"]["content"] == '{"label": "negative", "score": -0.5}'
