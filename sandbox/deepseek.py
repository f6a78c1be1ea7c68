"""A DeepSeek stand-in: ``POST /chat/completions`` (also under ``/v1``), OpenAI-compatible.

``Authorization: Bearer <key>`` or 401. The answer is a ``chat.completion`` whose
``choices[0].message.content`` is, in JSON mode (``response_format: {"type":
"json_object"}``), the JSON string ``{"label": ..., "score": ...}`` computed from the last
user message by a small keyword rule (``sentiment_of``): deterministic, so tests can
expect a label. JSON mode needs the word "json" in the prompt, as DeepSeek's does (400).
Keep instructions in the system message: the rule reads the last user message only.

``mode`` switches what comes back: ``normal``, ``blank`` (empty content with
``finish_reason: "stop"``), ``invalid_json``, ``insufficient_balance`` (402),
``rate_limited`` (429), ``server_error`` (500), ``overloaded`` (503).
``keepalive_lines`` sends that many blank lines, ``keepalive_interval_ms`` apart, before
the JSON, as DeepSeek does while a request waits under load. ``stream: true`` is not
imitated (422).
"""

from __future__ import annotations

import hmac
import json
import re
import time
import uuid
from collections import Counter
from typing import Any

from sandbox import defaults as dev
from sandbox import switches
from sandbox.server import Request, Response, StandIn, json_response

PATHS = ("/chat/completions", "/v1/chat/completions")
MODELS = ("deepseek-v4-flash", "deepseek-v4-pro")
MODES = ("normal", "blank", "invalid_json", "insufficient_balance", "rate_limited", "server_error", "overloaded")
MODE_ERRORS = {
    "insufficient_balance": (402, "Insufficient Balance", "unknown_error"),
    "rate_limited": (429, "Rate Limit Reached", "rate_limit_error"),
    "server_error": (500, "Server Error", "api_error"),
    "overloaded": (503, "Server Overloaded", "api_error"),
}
POSITIVE = frozenset(
    "thanks thank great love excellent good happy perfect awesome amazing wonderful helpful glad pleased "
    "fantastic nice best delighted".split()
)
NEGATIVE = frozenset(
    "never bad terrible awful angry hate broken worst disappointed refund late wrong problem cancel missing "
    "damaged horrible slow rude useless".split()
)
_WORD = re.compile(r"[^\W\d_]+")
ROLES = ("system", "user", "assistant", "tool")


def sentiment_of(text: str) -> tuple[str, float]:
    """The stand-in's verdict: (label, score in -1..1) from counts of keywords in ``text``."""
    words = [word.lower() for word in _WORD.findall(text)]
    positive = sum(word in POSITIVE for word in words)
    negative = sum(word in NEGATIVE for word in words)
    if positive == negative:
        return "neutral", 0.0
    score = round((positive - negative) / (positive + negative + 1), 2)
    return ("positive" if score > 0 else "negative"), score


class DeepSeekStandIn(StandIn):
    """DeepSeek on 127.0.0.1 (see the module docstring for what it imitates).

    ``DeepSeekStandIn().start()`` returns its port; point ``DEEPSEEK_BASE_URL`` at
    ``.url``. Switches: the common faults of ``sandbox.server`` plus ``mode``,
    ``keepalive_lines`` and ``keepalive_interval_ms``.
    """

    name = "deepseek"
    switch_readers = {
        "mode": switches.choice(MODES),
        "keepalive_lines": switches.integer(0, 10_000),
        "keepalive_interval_ms": switches.integer(0, 60_000),
    }
    switch_defaults = {"mode": "normal", "keepalive_lines": 0, "keepalive_interval_ms": 100}

    def __init__(
        self, *, api_key: str = dev.DEEPSEEK_API_KEY, models: tuple[str, ...] = MODELS, **options: Any
    ) -> None:
        super().__init__(**options)
        self._key = api_key
        self._models = models
        self._answers: Counter[str] = Counter()

    def endpoint_of(self, request: Request) -> str | None:
        return "chat/completions" if request.path.rstrip("/") in PATHS else None

    def error_response(self, status: int, message: str, request: Request | None) -> Response:
        kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "invalid_request_error")
        if status >= 500:
            kind = "api_error"
        return _error(status, message, kind)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            answers = dict(self._answers)
        return {**super().stats(), "completions": answers}

    def cleared(self) -> None:
        self._answers.clear()

    def handle_api(self, request: Request) -> Response:
        if self.endpoint_of(request) is None:
            return _error(404, "Not Found", "invalid_request_error")
        if request.method != "POST":
            return _error(405, "Method Not Allowed", "invalid_request_error")
        supplied = request.headers.get("Authorization", "")
        if not supplied.startswith("Bearer ") or not hmac.compare_digest(supplied[7:].encode(), self._key.encode()):
            return _error(401, "Authentication Fails, Your api key is invalid", "authentication_error")
        try:
            body = request.json()
        except switches.SwitchError as exc:
            return _error(
                400, f"Failed to deserialize the JSON body into the target type: {exc}", "invalid_request_error"
            )
        if not isinstance(body, dict):
            return _error(400, "Failed to deserialize the JSON body into the target type", "invalid_request_error")
        problem = _request_problem(body)
        if problem:
            return _error(422, problem, "invalid_request_error")
        if body["model"] not in self._models:
            return _error(400, "Model Not Exist", "invalid_request_error")
        json_mode = (body.get("response_format") or {}).get("type") == "json_object"
        texts = [_content_text(message) for message in body["messages"]]
        if json_mode and not any("json" in text.lower() for text in texts):
            return _error(
                400,
                "Prompt must contain the word 'json' in some form to use 'response_format' of type 'json_object'.",
                "invalid_request_error",
            )
        with self._lock:
            mode = self._switches["mode"]
            lines, interval_ms = self._switches["keepalive_lines"], self._switches["keepalive_interval_ms"]
            self._answers[mode] += 1
        if mode in MODE_ERRORS:
            return _error(*MODE_ERRORS[mode])
        user = [_content_text(m) for m in body["messages"] if m["role"] == "user"]
        label, score = sentiment_of(user[-1] if user else "")
        if mode == "blank":
            content = ""
        elif mode == "invalid_json":
            content = '{"label": "' + label + '", "score": '  # cut off mid-object
        elif json_mode:
            content = json.dumps({"label": label, "score": score})
        else:
            content = f"{label} {score}"
        prompt_tokens = sum(max(1, len(text) // 4) for text in texts)
        completion_tokens = max(1, len(content) // 4)
        completion = {
            "id": str(uuid.uuid4()),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": 0},
                "prompt_cache_hit_tokens": 0,
                "prompt_cache_miss_tokens": prompt_tokens,
            },
            "system_fingerprint": "fp_sandbox",
        }
        return json_response(200, completion, keepalive_lines=lines, keepalive_interval_s=interval_ms / 1000)


def _error(status: int, message: str, kind: str) -> Response:
    return json_response(status, {"error": {"message": message, "type": kind, "param": None, "code": kind}})


def _content_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _request_problem(body: dict[str, Any]) -> str:
    """Why DeepSeek would refuse the parameters (422), or ""."""
    if not isinstance(body.get("model"), str):
        return "model: a string is required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: a non-empty list is required"
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"messages: each needs a role among {', '.join(ROLES)}"
        if not isinstance(message.get("content"), str | list):
            return "messages: each needs a content"
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict) or response_format.get("type") not in ("text", "json_object")
    ):
        return 'response_format: must be {"type": "text"} or {"type": "json_object"}'
    if body.get("stream"):
        return "stream: the sandbox answers whole completions only"
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = body.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high
        ):
            return f"{name}: must be a number from {low} to {high}"
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        return "max_tokens: must be a positive whole number"
    return ""
