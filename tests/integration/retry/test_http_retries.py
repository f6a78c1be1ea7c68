"""``retry_http_requests`` around real requests calls to a real loopback HTTP server."""

from __future__ import annotations

import email.utils
import http.server
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from reliability.retry import retry_http_requests
from tests.services import free_port

pytestmark = pytest.mark.integration


class ScriptedServer:
    """Answers each path from a script of (status, headers, pause) steps, then 200 forever;
    records when every request arrived."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[tuple[int, dict[str, str], float]]] = {}
        self.arrivals: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.arrivals.setdefault(self.path, []).append(time.monotonic())
                    script = server.scripts.get(self.path, [])
                    status, headers, pause = script.pop(0) if script else (200, {}, 0.0)
                if pause:
                    time.sleep(pause)
                body = b"ok" if status == 200 else b"not now"
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def script(self, path: str, *steps: tuple[int, dict[str, str], float]) -> str:
        self.scripts[path] = list(steps)
        return self.base_url + path

    def count(self, path: str) -> int:
        return len(self.arrivals.get(path, []))

    def gaps(self, path: str) -> list[float]:
        times = self.arrivals[path]
        return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    scripted.thread.start()
    yield scripted
    scripted.httpd.shutdown()
    scripted.httpd.server_close()


def metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_503s_are_retried_until_the_server_answers(server):
    url = server.script("/send", *[(503, {}, 0.0)] * 3)

    @retry_http_requests(max_retries=3, base_delay=0.02, max_delay=0.1, service="it-http")
    def send() -> requests.Response:
        return requests.get(url, timeout=2)

    before = metric("retry_attempts_total", service="it-http", outcome="retried")
    answer = send()
    assert answer.status_code == 200
    assert answer.text == "ok"
    assert server.count("/send") == 4
    assert metric("retry_attempts_total", service="it-http", outcome="retried") - before == 3


def test_raise_for_status_503s_are_retried_too(server):
    url = server.script("/raise", (503, {}, 0.0), (503, {}, 0.0))

    @retry_http_requests(max_retries=2, base_delay=0.02, max_delay=0.1)
    def fetch() -> str:
        answer = requests.get(url, timeout=2)
        answer.raise_for_status()
        return answer.text

    assert fetch() == "ok"
    assert server.count("/raise") == 3


def test_429_with_retry_after_seconds_waits_that_long(server):
    url = server.script("/limited", (429, {"Retry-After": "1"}, 0.0))

    @retry_http_requests(max_retries=2, base_delay=0.01, max_delay=5.0)
    def send() -> requests.Response:
        return requests.get(url, timeout=2)

    assert send().status_code == 200
    assert server.count("/limited") == 2
    # Backoff alone would have waited at most 10 ms.
    assert 1.0 <= server.gaps("/limited")[0] < 2.0


def test_503_with_retry_after_date_waits_until_then(server):
    when = time.time() + 2
    url = server.script("/maintenance", (503, {"Retry-After": email.utils.formatdate(when, usegmt=True)}, 0.0))

    @retry_http_requests(max_retries=1, base_delay=0.01, max_delay=5.0)
    def send() -> requests.Response:
        return requests.get(url, timeout=2)

    assert send().status_code == 200
    # HTTP dates have whole seconds, so the wait ends within the second before `when`.
    assert time.time() >= int(when) - 0.05
    assert 0.9 <= server.gaps("/maintenance")[0] < 2.5


def test_retry_after_beyond_the_deadline_returns_the_answer_at_once(server):
    url = server.script("/later", (503, {"Retry-After": "30"}, 0.0))

    @retry_http_requests(max_retries=3, max_delay=60.0, deadline=5.0)
    def send() -> requests.Response:
        return requests.get(url, timeout=2)

    started = time.monotonic()
    assert send().status_code == 503
    assert time.monotonic() - started < 1.0
    assert server.count("/later") == 1


@pytest.mark.parametrize("status", [400, 404, 422])
def test_4xx_is_not_retried(server, status):
    url = server.script("/bad", (status, {}, 0.0))

    @retry_http_requests(max_retries=3, base_delay=0.01)
    def send() -> requests.Response:
        return requests.get(url, timeout=2)

    assert send().status_code == status
    assert server.count("/bad") == 1


def test_when_retries_run_out_the_last_503_is_returned(server):
    url = server.script("/down", *[(503, {}, 0.0)] * 10)

    @retry_http_requests(max_retries=2, base_delay=0.01, max_delay=0.05)
    def send() -> requests.Response:
        return requests.get(url, timeout=2)

    assert send().status_code == 503
    assert server.count("/down") == 3


def test_a_read_timeout_is_retried(server):
    url = server.script("/slow", (200, {}, 1.0))

    @retry_http_requests(max_retries=1, base_delay=0.01, max_delay=0.05)
    def send() -> requests.Response:
        return requests.get(url, timeout=0.3)

    assert send().status_code == 200
    assert server.count("/slow") == 2


def test_connection_refused_is_retried_then_raised():
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    attempts = []

    @retry_http_requests(max_retries=2, base_delay=0.01, max_delay=0.05)
    def send() -> requests.Response:
        attempts.append(1)
        return requests.get(url, timeout=1)

    with pytest.raises(requests.ConnectionError):
        send()
    assert len(attempts) == 3


def test_async_callers_are_retried_over_real_http(server):
    import asyncio

    url = server.script("/async", (502, {}, 0.0), (504, {}, 0.0))

    @retry_http_requests(max_retries=2, base_delay=0.01, max_delay=0.05)
    async def send() -> requests.Response:
        return await asyncio.to_thread(requests.get, url, timeout=2)

    assert asyncio.run(send()).status_code == 200
    assert server.count("/async") == 3
