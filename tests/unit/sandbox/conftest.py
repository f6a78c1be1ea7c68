"""Stand-ins on free 127.0.0.1 ports, a webhook receiver, and a client for Green API's URLs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from sandbox import DeepSeekStandIn, GreenApiStandIn, defaults
from tests.webhook_receiver import WebhookReceiver

WEBHOOK_TOKEN = "receiver-token-7"
CUSTOMER = "79005550101@c.us"


class GreenApiCalls:
    """Green API's URL shape over a real session: ``calls.post("sendMessage", json=...)``."""

    def __init__(self, stand_in: GreenApiStandIn) -> None:
        self.stand_in = stand_in
        self.session = requests.Session()

    def url(self, method: str, *, token: str = defaults.INSTANCE_TOKEN, instance: str = defaults.ID_INSTANCE) -> str:
        return f"{self.stand_in.url}/waInstance{instance}/{method}/{token}"

    def get(self, method: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(method), timeout=kwargs.pop("timeout", 10), **kwargs)

    def post(self, method: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url(method), timeout=kwargs.pop("timeout", 10), **kwargs)

    def send(self, text: str = "Hello", chat_id: str = CUSTOMER, **kwargs: Any) -> requests.Response:
        return self.post("sendMessage", json={"chatId": chat_id, "message": text}, **kwargs)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def green_factory() -> Iterator[Callable[..., GreenApiStandIn]]:
    """Start Green API stand-ins with fast status webhooks; all stopped after the test."""
    started: list[GreenApiStandIn] = []

    def make(**options: Any) -> GreenApiStandIn:
        options.setdefault("status_delays_ms", [20, 40, 60])
        options.setdefault("journal_lag_ms", 0)
        options.setdefault("webhook_retry_delays_s", (0.05, 0.1))
        stand_in = GreenApiStandIn(**options)
        stand_in.start()
        started.append(stand_in)
        return stand_in

    yield make
    for stand_in in started:
        stand_in.stop()


@pytest.fixture
def green(green_factory, receiver) -> GreenApiStandIn:
    return green_factory(webhook_url=receiver.url, webhook_token=WEBHOOK_TOKEN)


@pytest.fixture
def calls(green) -> GreenApiCalls:
    return GreenApiCalls(green)


@pytest.fixture
def deepseek() -> Iterator[DeepSeekStandIn]:
    with DeepSeekStandIn() as running:
        yield running


def eventually(check: Callable[[], Any], *, timeout: float = 15.0) -> Any:
    """``check()``'s first truthy result; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(0.02)
