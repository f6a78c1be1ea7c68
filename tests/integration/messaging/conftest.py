"""The real clients against loopback servers, with fresh breakers and retry budgets."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from reliability.breaker.breaker import forget_circuit_breakers, get_circuit_breaker
from reliability.retry import budget as retry_budget
from tests.httpserver import LoopbackServer, Reply

GREEN_API_TOKEN = "it-green-instance-token-5c2e9a71"
GREEN_API_INSTANCE = "1101000042"
DEEPSEEK_KEY = "sk-it-deepseek-key-93b0f1c4d7"
TIMEOUT = 0.5
ID_MESSAGE = "3EB0C767D097B7C7C030"


@pytest.fixture(autouse=True)
def fresh_reliability(db, redis_client, monkeypatch) -> Iterator[None]:
    """Closed breakers (state in the emptied Redis) and full retry budgets for each test.

    The breakers are created here, in the test's thread, so code that runs them from a
    worker thread (the async clients) finds them configured."""
    forget_circuit_breakers()
    for service in ("green_api", "deepseek"):
        monkeypatch.setitem(retry_budget._budgets, service, retry_budget.RetryBudget(service))
        get_circuit_breaker(service)
    yield
    forget_circuit_breakers()


@pytest.fixture
def green_api(settings) -> Iterator[LoopbackServer]:
    """A loopback server the settings' Green API points at (half-second timeouts)."""
    with LoopbackServer(default=Reply(json={"idMessage": ID_MESSAGE})) as server:
        settings.GREEN_API_URL = server.url
        settings.GREEN_API_ID_INSTANCE = GREEN_API_INSTANCE
        settings.GREEN_API_TOKEN = GREEN_API_TOKEN
        settings.GREEN_API_CONNECT_TIMEOUT = TIMEOUT
        settings.GREEN_API_READ_TIMEOUT = TIMEOUT
        yield server


@pytest.fixture
def deepseek(settings) -> Iterator[LoopbackServer]:
    """A loopback server the settings' DeepSeek points at (half-second timeouts)."""
    with LoopbackServer(default=Reply(json=completion('{"label": "positive", "score": 0.8}'))) as server:
        settings.DEEPSEEK_BASE_URL = server.url
        settings.DEEPSEEK_API_KEY = DEEPSEEK_KEY
        settings.DEEPSEEK_MODEL = "deepseek-v4-flash"
        settings.DEEPSEEK_CONNECT_TIMEOUT = TIMEOUT
        settings.DEEPSEEK_READ_TIMEOUT = TIMEOUT
        yield server


def completion(content: str, *, finish_reason: str = "stop", model: str = "deepseek-v4-flash") -> dict:
    """A chat completion as DeepSeek answers it."""
    return {
        "id": "it-completion",
        "object": "chat.completion",
        "created": 1764326400,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 90, "completion_tokens": 12, "total_tokens": 102},
    }


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def exception_text(exc: BaseException) -> str:
    """Everything a traceback, a log line or a DLQ row could show of ``exc``, chained causes included."""
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(vars(exc))


@pytest.fixture
def log_text(caplog):
    """``log_text()``: every log line so far (DEBUG and up, urllib3's included) as the
    configured handler writes it, plus the raw event of each structlog line."""
    caplog.set_level(logging.DEBUG)
    formatter = logging.getLogger().handlers[0].formatter

    def text() -> str:
        return "\n".join(formatter.format(record) + " " + str(record.msg) for record in caplog.records)

    return text
