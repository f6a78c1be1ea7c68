"""Deliver the Green API stand-in's webhooks to our service, like Green API does.

One worker thread sends from a bounded schedule (a heap by due time). A body is built
when it falls due, so a status reflects the moment it is sent. Delivery is a POST with
``Authorization: Bearer <webhookUrlToken>`` to the ``webhookUrl`` of that moment; with no
URL set the body goes to the ``receiveNotification`` queue instead. An answer other than
2xx, a refused connection or a timeout is retried after ``retry_delays_s`` (Green API
waits about a minute and keeps trying for a day; the sandbox waits less and gives up),
and a retried webhook may then arrive after later ones, as it may from Green API.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("sandbox")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

Target = Callable[[], tuple[str, str] | None]


def check_webhook_url(url: str) -> str:
    """``url`` when it is an http URL on this machine; the sandbox sends nothing elsewhere."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            f"webhook URL must be http://127.0.0.1:PORT/... (the sandbox calls this machine only): {url!r}"
        )
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError(f"webhook URL has a bad port: {url!r}") from None
    return url


@dataclass(order=True)
class _Due:
    due: float
    seq: int
    build: Callable[[], dict[str, Any] | None] = field(compare=False)
    body: dict[str, Any] | None = field(default=None, compare=False)
    attempt: int = field(default=0, compare=False)


class WebhookSender:
    """One worker thread delivering scheduled webhooks, at most ``max_pending`` waiting."""

    def __init__(
        self,
        *,
        target: Target,
        fallback: Callable[[dict[str, Any]], None],
        retry_delays_s: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0),
        timeout_s: float = 5.0,
        max_pending: int = 20_000,
        log_size: int = 500,
    ) -> None:
        self._target = target
        self._fallback = fallback
        self._retry_delays = retry_delays_s
        self._timeout = timeout_s
        self._max_pending = max_pending
        self._heap: list[_Due] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._connection: http.client.HTTPConnection | None = None
        self._connection_key: tuple[str, int] | None = None
        self._counts: Counter[str] = Counter()
        self._log: deque[dict[str, Any]] = deque(maxlen=log_size)

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout + 1)
        self._close_connection()

    def schedule(self, delay_s: float, build: Callable[[], dict[str, Any] | None]) -> bool:
        """Build and send a body after ``delay_s``; False (and counted) when the schedule is full."""
        with self._cond:
            if len(self._heap) >= self._max_pending:
                self._counts["dropped"] += 1
                return False
            heapq.heappush(self._heap, _Due(time.monotonic() + delay_s, next(self._seq), build))
            self._cond.notify()
            return True

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()
            self._counts.clear()
            self._log.clear()

    def stats(self) -> dict[str, Any]:
        with self._cond:
            return {"pending": len(self._heap), **self._counts}

    def deliveries(self) -> list[dict[str, Any]]:
        """The last delivery attempts: type, status, attempt number, answer."""
        with self._cond:
            return list(self._log)

    def idle(self) -> bool:
        with self._cond:
            return not self._heap and self._counts["in_flight"] == 0

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._heap or self._heap[0].due > time.monotonic()):
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                item = heapq.heappop(self._heap)
                self._counts["in_flight"] += 1
            try:
                self._send(item)
            except Exception:  # one broken body must not stop every later delivery
                log.exception("sandbox webhook failed")
            finally:
                with self._cond:
                    self._counts["in_flight"] -= 1

    def _send(self, item: _Due) -> None:
        if item.body is None:
            item.body = item.build()
            if item.body is None:
                return
        target = self._target()
        if target is None:
            self._fallback(item.body)
            with self._cond:
                self._counts["queued_for_polling"] += 1
            return
        url, token = target
        status, answer = self._post(url, token, item.body)
        delivered = status is not None and 200 <= status < 300
        kind = item.body.get("typeWebhook", "?")
        detail = item.body.get("status")
        with self._cond:
            self._log.append(
                {
                    "at": round(time.time(), 3),
                    "typeWebhook": kind,
                    "status": detail,
                    "idMessage": item.body.get("idMessage"),
                    "attempt": item.attempt + 1,
                    "answer": status if status is not None else answer,
                }
            )
            if delivered:
                self._counts["delivered"] += 1
            elif item.attempt < len(self._retry_delays):
                self._counts["retried"] += 1
                item.due = time.monotonic() + self._retry_delays[item.attempt]
                item.attempt += 1
                item.seq = next(self._seq)
                heapq.heappush(self._heap, item)
            else:
                self._counts["given_up"] += 1
        log.info("sandbox webhook %s%s -> %s", kind, f"({detail})" if detail else "", status or answer)

    def _post(self, url: str, token: str, body: dict[str, Any]) -> tuple[int | None, str]:
        parts = urlsplit(url)
        key = (parts.hostname or "127.0.0.1", parts.port or 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = json.dumps(body, ensure_ascii=False).encode()
        reused = self._connection is not None and self._connection_key == key
        try:
            return self._exchange(key, path, payload, headers)
        except (OSError, http.client.HTTPException) as exc:
            self._close_connection()
            if not reused:
                return None, type(exc).__name__
        # A kept-alive connection the server had closed meanwhile: one fresh try.
        try:
            return self._exchange(key, path, payload, headers)
        except (OSError, http.client.HTTPException) as exc:
            self._close_connection()
            return None, type(exc).__name__

    def _exchange(self, key: tuple[str, int], path: str, payload: bytes, headers: dict[str, str]) -> tuple[int, str]:
        if self._connection is None or self._connection_key != key:
            self._close_connection()
            self._connection = http.client.HTTPConnection(*key, timeout=self._timeout)
            self._connection_key = key
        self._connection.request("POST", path, body=payload, headers=headers)
        response = self._connection.getresponse()
        response.read(64 * 1024)
        if response.will_close or not response.isclosed():
            self._close_connection()  # closing, or an answer too long to keep reading
        return response.status, ""

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
