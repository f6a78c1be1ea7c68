"""A loopback HTTP server that records the webhooks it receives, for the sandbox's tests.

It answers from a script of statuses (``[500, 500]``), then ``default_status``; an
``on_body`` callback lets a test act as our service (reply when a message comes in).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    authorization: str | None
    body: Any
    answered: int


class WebhookReceiver:
    def __init__(
        self,
        *,
        statuses: tuple[int, ...] = (),
        default_status: int = 200,
        on_body: Callable[[Any], None] | None = None,
    ) -> None:
        self._script = list(statuses)
        self.default_status = default_status
        self._on_body = on_body
        self._lock = threading.Lock()
        self._received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                body = json.loads(raw) if raw else None
                with receiver._lock:
                    status = receiver._script.pop(0) if receiver._script else receiver.default_status
                    receiver._received.append(Received(self.path, self.headers.get("Authorization"), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if receiver._on_body is not None and 200 <= status < 300:
                    receiver._on_body(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v1/webhooks/green-api/"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def bodies(self, type_webhook: str | None = None) -> list[Any]:
        return [r.body for r in self.received() if type_webhook is None or r.body.get("typeWebhook") == type_webhook]

    def wait_for(self, predicate: Callable[[list[Received]], bool], *, timeout: float = 15.0) -> list[Received]:
        """The received list once ``predicate`` holds for it; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.received()
            if predicate(received):
                return received
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout} s; received: {received}")
            time.sleep(0.02)
