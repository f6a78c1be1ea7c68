"""A small HTTP load client for the webhook: many bodies from a few threads, each answer timed.

The load drills (``tests/e2e/drills``) and the end-to-end benchmark (``bench.e2e``) play
Green API with it against a real gunicorn. Each thread keeps one ``requests.Session``
(one kept-alive connection, as Green API's sender does); latency is measured at the
client, from just before the request is sent to the end of its answer.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

WEBHOOK_PATH = "/api/v1/webhooks/green-api/"


@dataclass(frozen=True)
class Answer:
    """One webhook delivery as the sender saw it."""

    index: int  # position of the body in the list given
    status: int  # HTTP status, 0 when no answer came
    outcome: str  # the answer's "status" ("stored", "duplicate") or an error's class
    sent_at: float  # time.time() just before sending
    latency_s: float


def _deliver(session: requests.Session, url: str, headers: dict[str, str], index: int, body: Any) -> Answer:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent_at, started = time.time(), time.perf_counter()
    try:
        response = session.post(url, data=data, headers=headers, timeout=30)
    except requests.RequestException as exc:
        return Answer(index, 0, type(exc).__name__, sent_at, time.perf_counter() - started)
    latency = time.perf_counter() - started
    try:
        outcome = response.json().get("status", "") if response.ok else ""
    except ValueError:
        outcome = ""
    return Answer(index, response.status_code, outcome, sent_at, latency)


def webhooks_post(
    base_url: str,
    token: str,
    bodies: Sequence[Any],
    *,
    concurrency: int,
    rate: float | None = None,
    before_each: Callable[[int], None] | None = None,
    headers: dict[str, str] | None = None,
) -> list[Answer]:
    """POST every body to the webhook from ``concurrency`` threads; answers in body order.

    ``rate`` (bodies per second) paces the sends on a fixed schedule (body i leaves no
    earlier than ``i / rate`` s after the start), so a slow answer does not slow the
    offered load; without it each thread sends its next body as soon as it has an answer.
    ``before_each(i)`` runs in the sending thread just before body ``i`` leaves (drills
    use it to switch a fault on at a given point of the load). ``headers`` go with every
    request (``X-Forwarded-Proto`` for a server with the production profile).
    """
    url = f"{base_url.rstrip('/')}{WEBHOOK_PATH}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})}
    answers: list[Answer | None] = [None] * len(bodies)
    counter = itertools.count()
    lock = threading.Lock()
    start = time.perf_counter()

    def run() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    index = next(counter)
                if index >= len(bodies):
                    return
                if rate is not None:
                    wait = start + index / rate - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                if before_each is not None:
                    before_each(index)
                answers[index] = _deliver(session, url, headers, index, bodies[index])

    threads = [threading.Thread(target=run, name=f"webhook-load-{n}") for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answer is not None for answer in answers)
    return answers  # type: ignore[return-value]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
