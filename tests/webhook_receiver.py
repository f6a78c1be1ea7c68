"""Our webhook's endpoint played by a ``LoopbackServer``, for the sandbox's tests.

It answers from a script of statuses (``[500, 500]``), then ``default_status``, and keeps
each webhook with its parsed body and the status it was answered; ``on_body`` lets a test
act as our service (reply once a message was accepted).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.httpserver import LoopbackServer, Received, Reply

WEBHOOK_PATH = "/api/v1/webhooks/green-api/"


@dataclass(frozen=True)
class Webhook:
    path: str
    authorization: str | None
    body: Any
    answered: int


class WebhookReceiver(LoopbackServer):
    def __init__(
        self,
        *,
        statuses: tuple[int, ...] = (),
        default_status: int = 200,
        on_body: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__(default=Reply(status=default_status), after_answer=self._answered)
        self.queue(*(Reply(status=status) for status in statuses))
        self.url = f"{self.url}{WEBHOOK_PATH}"
        self._on_body = on_body
        self._webhooks: list[Webhook] = []

    def _answered(self, request: Received, reply: Reply) -> None:
        body = json.loads(request.body) if request.body else None
        with self._lock:
            self._webhooks.append(Webhook(request.path, request.headers.get("authorization"), body, reply.status))
        if self._on_body is not None and 200 <= reply.status < 300:
            self._on_body(body)

    def webhooks(self) -> list[Webhook]:
        with self._lock:
            return list(self._webhooks)

    def bodies(self, type_webhook: str | None = None) -> list[Any]:
        return [w.body for w in self.webhooks() if type_webhook is None or w.body.get("typeWebhook") == type_webhook]

    def wait_for(self, predicate: Callable[[list[Webhook]], bool], *, timeout: float = 15.0) -> list[Webhook]:
        """The webhooks once ``predicate`` holds for them; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            webhooks = self.webhooks()
            if predicate(webhooks):
                return webhooks
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s; received: {webhooks}")
            time.sleep(0.02)
