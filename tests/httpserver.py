"""A programmable HTTP server on 127.0.0.1 for tests that need real sockets.

Tests script what the server answers, then drive the real clients against ``server.url``
and look at what the server received::

    from tests.httpserver import LoopbackServer, Reply

    with LoopbackServer() as server:
        server.queue(Reply(status=503), Reply(json={"idMessage": "3EB0"}), path="/sendMessage/")
        ...  # call the client with base URL server.url
        assert server.count("/sendMessage/") == 2
        assert server.received()[-1].json() == {"chatId": "79001234567@c.us", "message": "hi"}

How it answers a request: the first queued ``Reply`` whose ``path`` filter is a substring
of the request's path (queued replies are used once, in order), else ``on_request(request)``
when given, else ``default`` (200 with ``{}``); ``after_answer(request, reply)``, when given,
runs once the answer is written (a test acting as a service that reacts to what it received). A
``Reply`` says:

- ``status``, ``headers``, and the body as ``json=`` (serialised) or ``body=`` (bytes/str);
- ``delay``: seconds to wait after reading the request and before answering (an answer
  later than the client's read timeout; the client has left, the server still counts it);
- ``action``: ``"answer"`` (default); ``"drop_before_read"`` (abort the connection with a RST
  once the request has arrived, without reading it: it is not counted as received); ``"close_after_read"`` (read the
  request, then close without answering); ``"reset_after_read"`` (read it, then abort the
  connection with a TCP RST); ``"truncate_body"`` (send the headers and half the body, then
  close); ``"break_chunked"`` (chunked answer that stops mid-chunk);
- ``blank_lines`` / ``blank_line_interval``: keep-alive blank lines sent, chunked, before
  the body, as DeepSeek does while a request waits under load.

Every request that was read is recorded as a ``Received`` (method, path, query, headers,
body, client port, arrival time) whatever happens next, so a test can prove that exactly
one request reached the server before the connection dropped. ``client_port`` tells
connections apart (a reused keep-alive connection keeps its port).

``unresponsive_port()`` gives a port whose TCP connect never completes (a full accept
queue): the way to get a real connect timeout on loopback.

The server speaks HTTP/1.1 with keep-alive; each connection is served by its own daemon
thread; ``stop()`` (or leaving the ``with``) ends delays early and closes the listener.
"""

from __future__ import annotations

import json as jsonlib
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACTIONS = ("answer", "drop_before_read", "close_after_read", "reset_after_read", "truncate_body", "break_chunked")
_UNSET = object()


@dataclass
class Reply:
    """One scripted answer (see the module docstring)."""

    status: int = 200
    json: Any = _UNSET
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    action: str = "answer"
    blank_lines: int = 0
    blank_line_interval: float = 0.0
    path: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {self.action!r}")

    def payload(self) -> bytes:
        if self.json is not _UNSET:
            return jsonlib.dumps(self.json).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class Received:
    """A request the server read completely."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_port: int
    at: float

    def json(self) -> Any:
        return jsonlib.loads(self.body)


class LoopbackServer:
    """``ThreadingHTTPServer`` on 127.0.0.1 (a free port unless ``port`` is given; it
    listens from construction, serves from ``start()``), answering from a script."""

    def __init__(
        self,
        *,
        default: Reply | None = None,
        on_request: Callable[[Received], Reply | None] | None = None,
        after_answer: Callable[[Received, Reply], None] | None = None,
        port: int = 0,
    ) -> None:
        self.default = default or Reply(json={})
        self.on_request = on_request
        self.after_answer = after_answer
        self._queued: list[Reply] = []
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.connections = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-http", daemon=True
        )

    # --- scripting and reading ------------------------------------------------------

    def queue(self, *replies: Reply, path: str | None = None) -> LoopbackServer:
        """Answer the next matching requests with ``replies``, in order; ``path`` (a
        substring of the request path) applies to every reply that has none of its own."""
        with self._lock:
            for reply in replies:
                if path is not None and reply.path is None:
                    reply.path = path
                self._queued.append(reply)
        return self

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [item for item in self._received if path is None or path in item.path]

    def count(self, path: str | None = None) -> int:
        return len(self.received(path))

    def pending(self) -> int:
        """Queued replies not used yet."""
        with self._lock:
            return len(self._queued)

    # --- life cycle -----------------------------------------------------------------

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving --------------------------------------------------------------------

    def _next_reply(self, request: Received) -> Reply:
        with self._lock:
            for index, reply in enumerate(self._queued):
                if reply.path is None or reply.path in request.path:
                    return self._queued.pop(index)
        if self.on_request is not None:
            answer = self.on_request(request)
            if answer is not None:
                return answer
        return self.default

    def _take_drop(self, path: str) -> bool:
        """Whether the reply due for ``path`` drops the connection unread (and use it up)."""
        with self._lock:
            for index, reply in enumerate(self._queued):
                if reply.path is None or reply.path in path:
                    if reply.action != "drop_before_read":
                        return False
                    del self._queued[index]
                    return True
        return False

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server.connections += 1

            def handle_one_request(self) -> None:
                try:
                    if self._drop_unread():
                        return
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    self.close_connection = True  # the client left; nothing to answer

            def _drop_unread(self) -> bool:
                """Wait for the next request and peek at its line without consuming it; abort
                the connection if the reply due for that path is ``drop_before_read``."""
                while not server._stopping.is_set():
                    readable, _, _ = select.select([self.connection], [], [], 0.05)
                    if readable:
                        break
                else:
                    self.close_connection = True
                    return True
                head = self.connection.recv(4096, socket.MSG_PEEK)
                if not head:
                    self.close_connection = True
                    return True
                words = head.split(b"\r\n", 1)[0].split()
                path = urlsplit(words[1].decode("latin-1")).path if len(words) > 1 else ""
                if not server._take_drop(path):
                    return False
                self._abort(reset=True)
                return True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Received(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                    client_port=self.client_address[1],
                    at=time.monotonic(),
                )
                with server._lock:
                    server._received.append(request)
                reply = server._next_reply(request)
                if reply.delay and server._stopping.wait(reply.delay):
                    self._abort(reset=False)
                    return
                if reply.action in ("close_after_read", "reset_after_read"):
                    self._abort(reset=reply.action == "reset_after_read")
                    return
                self._answer(reply)
                if server.after_answer is not None:
                    server.after_answer(request, reply)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

            def _answer(self, reply: Reply) -> None:
                payload = reply.payload()
                chunked = reply.blank_lines > 0 or reply.action == "break_chunked"
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if reply.action == "truncate_body":
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self._abort(reset=False)
                    return
                if not chunked:
                    self.wfile.write(payload)
                    return
                for _ in range(reply.blank_lines):
                    self._chunk(b"\n")
                    if reply.blank_line_interval and server._stopping.wait(reply.blank_line_interval):
                        self._abort(reset=False)
                        return
                if reply.action == "break_chunked":
                    self.wfile.write(b"%x\r\n" % (len(payload) + 10) + payload)
                    self.wfile.flush()
                    self._abort(reset=False)
                    return
                if payload:
                    self._chunk(payload)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _abort(self, *, reset: bool) -> None:
                self.close_connection = True
                if reset:
                    # SO_LINGER with a zero timeout turns close() into a TCP RST.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                else:
                    self.connection.shutdown(socket.SHUT_RDWR)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@contextmanager
def unresponsive_port() -> Iterator[int]:
    """A loopback port whose connects time out: its accept queue is full and never served."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        # With a backlog of 0 Linux queues one connection; later SYNs are dropped.
        for _ in range(2):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.05)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
