"""What both stand-ins share: listeners on 127.0.0.1, faults, the control endpoint, records.

Each stand-in has two listeners. The API port speaks the imitated protocol; the control
port serves ``/_sandbox/*`` only and stays up during an outage (the API port also serves
``/_sandbox/*`` while it is up).

**Outage is connection refused.** A dependency that is down usually refuses connections
(its process or host is gone), and that is the case a client may safely retry: the
request surely never arrived. So an outage closes the API listener, resets the open
connections and keeps the port reserved by a bound, non-listening socket (SO_REUSEPORT)
until the outage ends and a new listener takes it over. A request caught in flight at
that moment sees its connection reset, as with a process that dies.

**Lost reply** does the work (a send is journaled, counted and its webhooks go out), then
either closes the connection without answering (``close``) or answers after
``late_reply_ms`` (``late``), longer than a client's read timeout.

**Error rate** answers a seeded random share of requests with ``error_status`` without
doing anything. ``methods`` limits every fault except the outage to the named endpoints
(``["sendMessage"]``); empty means all.
"""

from __future__ import annotations

import json
import logging
import random
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from sandbox import switches
from sandbox.defaults import HOST

log = logging.getLogger("sandbox")

CONTROL_PREFIX = "/_sandbox/"
MAX_CONTROL_BODY = 64 * 1024
# Request bodies up to this size are kept (parsed) in the request log; larger ones by size only.
MAX_LOGGED_BODY = 32 * 1024
REASONS = {466: "Quota Exceeded", 499: "Client Closed Request"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: HTTPMessage
    body: bytes
    target: str  # the raw request target, query included

    def json(self) -> Any:
        return switches.json_loads(self.body)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    # Blank lines sent (chunked, one by one) before the body, as DeepSeek does under load.
    keepalive_lines: int = 0
    keepalive_interval_s: float = 0.0


def json_response(status: int, payload: Any, **extra: Any) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False).encode(), **extra)


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


COMMON_READERS: dict[str, switches.Reader] = {
    "latency_ms": switches.integer(0, 600_000),
    "error_rate": switches.rate,
    "error_status": switches.integer(400, 599),
    "outage": switches.boolean,
    "lost_reply_rate": switches.rate,
    "lost_reply_mode": switches.choice(("close", "late")),
    "late_reply_ms": switches.integer(0, 600_000),
    "methods": switches.names,
    "seed": switches.integer(0, 2**63),
}
COMMON_DEFAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "error_rate": 0.0,
    "error_status": 500,
    "outage": False,
    "lost_reply_rate": 0.0,
    "lost_reply_mode": "close",
    "late_reply_ms": 6_000,
    "methods": (),
    "seed": 0,
}


class StandIn:
    """An HTTP stand-in on 127.0.0.1 whose faults switch at run time.

    ``start()`` binds both listeners (port 0 picks free ones) and returns the API port;
    ``stop()`` closes everything. ``control(**switches)`` changes switches exactly like
    ``POST /_sandbox/control`` and returns ``state()``; ``stats()`` and ``requests()``
    report what was received; ``reset()`` forgets it and restores the switches given to
    the constructor. Usable as a context manager.
    """

    name = "stand-in"
    switch_readers: dict[str, switches.Reader] = {}
    switch_defaults: dict[str, Any] = {}

    def __init__(
        self,
        *,
        port: int = 0,
        control_port: int = 0,
        max_body_bytes: int = 1024 * 1024,
        max_connections: int = 128,
        request_log_size: int = 500,
        **initial_switches: Any,
    ) -> None:
        self._ports = (port, control_port)
        self._max_body = max_body_bytes
        self._max_connections = max_connections
        self._lock = threading.RLock()
        self._outage_lock = threading.Lock()
        self._stopping = threading.Event()
        self._readers = {**COMMON_READERS, **self.switch_readers}
        self._initial = {
            **COMMON_DEFAULTS,
            **self.switch_defaults,
            **switches.read_switches(self._readers, initial_switches),
        }
        self._switches = dict(self._initial)
        self._rng = random.Random(self._initial["seed"])
        self._requests: deque[dict[str, Any]] = deque(maxlen=request_log_size)
        self._counts: Counter[tuple[str, str]] = Counter()
        self._api: _Server | None = None
        self._control: _Server | None = None
        self._controlling = threading.local()  # the connection of the control request being served

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> int:
        """Listen on 127.0.0.1 and return the API port. Raises OSError when a port is taken."""
        self._stopping.clear()
        self._control = _Server(self, self._ports[1], control_only=True, max_connections=16)
        try:
            self._api = _Server(self, self._ports[0], control_only=False, max_connections=self._max_connections)
        except OSError:
            self._control.close()
            raise
        self._control.resume()
        if not self._switches["outage"]:
            self._api.resume()
        self.started()
        return self.port

    def stop(self) -> None:
        self._stopping.set()
        for server in (self._api, self._control):
            if server is not None:
                server.close()
        self.stopped()

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._api is not None, "start() first"
        return self._api.port

    @property
    def control_port(self) -> int:
        assert self._control is not None, "start() first"
        return self._control.port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def control_url(self) -> str:
        return f"http://{HOST}:{self.control_port}"

    # --- switches and records ----------------------------------------------------------

    def control(self, **values: Any) -> dict[str, Any]:
        """Change switches (validated first: one bad value changes nothing); returns ``state()``."""
        changes = switches.read_switches(self._readers, values)
        outage = changes.pop("outage", None)
        with self._lock:
            if "seed" in changes:
                self._rng.seed(changes["seed"])
            before = dict(self._switches)
            self._switches.update(changes)
        self.switched(before)
        if outage is not None:
            self._set_outage(outage)
        return self.state()

    def state(self) -> dict[str, Any]:
        with self._lock:
            current = {key: list(value) if isinstance(value, tuple) else value for key, value in self._switches.items()}
        return {
            "name": self.name,
            "port": self._api.port if self._api else None,
            "control_port": self._control.port if self._control else None,
            "switches": current,
        }

    def stats(self) -> dict[str, Any]:
        with self._lock:
            by_endpoint: dict[str, dict[str, int]] = {}
            for (endpoint, label), count in sorted(self._counts.items()):
                by_endpoint.setdefault(endpoint, {})[label] = count
            return {"requests": by_endpoint, "connections": self._api.connections() if self._api else 0}

    def requests(self) -> list[dict[str, Any]]:
        """The last requests received (oldest first), the instance token redacted from paths."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> dict[str, Any]:
        """Forget everything received and restore the constructor's switches."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()
            before = dict(self._switches)
            self._switches = dict(self._initial)
            self._rng.seed(self._initial["seed"])
            self.cleared()
        self.switched(before)
        self._set_outage(self._initial["outage"])
        return self.state()

    def _set_outage(self, outage: bool) -> None:
        with self._outage_lock:
            with self._lock:
                self._switches["outage"] = outage
            if self._api is None or self._stopping.is_set():
                return
            if outage:
                # The connection asking for the outage (the API port serves /_sandbox/ too)
                # still gets its answer.
                self._api.pause(keep=getattr(self._controlling, "connection", None))
            else:
                self._api.resume()

    # --- hooks for the stand-ins -------------------------------------------------------

    def endpoint_of(self, request: Request) -> str | None:
        """The name faults and stats know a request by (``sendMessage``), or None."""
        return None

    def handle_api(self, request: Request) -> Response:
        raise NotImplementedError

    def error_response(self, status: int, message: str, request: Request | None) -> Response:
        return json_response(status, {"error": message})

    def redact(self, path: str) -> str:
        return path

    def control_routes(self) -> dict[tuple[str, str], Callable[[Any], Any]]:
        """Extra ``/_sandbox/<name>`` routes: ``{("GET", "journal"): fn(payload)}``."""
        return {}

    def switched(self, before: dict[str, Any]) -> None:
        """Called (outside the lock) after switches changed from ``before``."""

    def started(self) -> None:
        """Called once the listeners are up."""

    def stopped(self) -> None:
        """Called after the listeners closed."""

    def cleared(self) -> None:
        """Called under the lock by ``reset()``: forget what the stand-in recorded."""

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False when the stand-in is stopping (stop waiting)."""
        return not self._stopping.wait(seconds)

    # --- serving -----------------------------------------------------------------------

    def serve(self, handler: _Handler, server: _Server) -> None:
        started = time.monotonic()
        path, _, query_string = handler.path.partition("?")
        if path.startswith(CONTROL_PREFIX):
            self._controlling.connection = handler.connection
            try:
                self._serve_control(handler, path[len(CONTROL_PREFIX) :].strip("/"))
            finally:
                self._controlling.connection = None
            return
        if server.control_only:
            _write(handler, json_response(404, {"error": f"the control port serves {CONTROL_PREFIX}* only"}))
            return
        query = {key: values[0] for key, values in parse_qs(query_string, keep_blank_values=True).items()}
        try:
            body = _read_body(handler, self._max_body)
        except _BodyError as exc:
            self._record(handler.command, path, None, b"", exc.status, "answered", started)
            _write(handler, self.error_response(exc.status, str(exc), None), close=True)
            return
        request = Request(handler.command, path, query, handler.headers, body, handler.path)
        endpoint = self.endpoint_of(request)
        with self._lock:
            faults = dict(self._switches)
            error_roll, lost_roll = self._rng.random(), self._rng.random()
        applies = not faults["methods"] or endpoint in faults["methods"]
        # Each request is recorded before it is answered, so a test that got its answer sees it.
        if faults["outage"]:
            # A kept-alive connection that outlived the listener: the "process" is gone.
            self._record(handler.command, path, endpoint, body, None, "outage", started)
            _drop(handler)
            return
        if applies and faults["latency_ms"]:
            if not self.wait(faults["latency_ms"] / 1000):
                _drop(handler)
                return
            with self._lock:
                outage = self._switches["outage"]
            if outage:  # it began while this request waited: a dead process answers nothing
                self._record(handler.command, path, endpoint, body, None, "outage", started)
                _drop(handler)
                return
        if applies and error_roll < faults["error_rate"]:
            response, outcome = self.error_response(faults["error_status"], "injected error", request), "error_rate"
        else:
            response, outcome = self._answer(request), "answered"
        if not (applies and lost_roll < faults["lost_reply_rate"]):
            self._record(handler.command, path, endpoint, body, response.status, outcome, started)
            _write(handler, response, stopping=self._stopping)
        elif faults["lost_reply_mode"] == "close":
            self._record(handler.command, path, endpoint, body, response.status, "lost_close", started)
            _drop(handler)
        else:
            self._record(handler.command, path, endpoint, body, response.status, "lost_late", started)
            if self.wait(faults["late_reply_ms"] / 1000):
                _write(handler, response, close=True, stopping=self._stopping)
            else:
                _drop(handler)

    def _answer(self, request: Request) -> Response:
        try:
            return self.handle_api(request)
        except Exception:  # a bug here must not pass for a lost reply: say so, loudly
            log.exception("%s could not answer %s %s", self.name, request.method, self.redact(request.path))
            return self.error_response(500, "sandbox internal error (see its log)", request)

    def _record(
        self,
        method: str,
        path: str,
        endpoint: str | None,
        body: bytes,
        status: int | None,
        outcome: str,
        started: float,
    ) -> None:
        parsed = None
        if body and len(body) <= MAX_LOGGED_BODY:
            try:
                parsed = switches.json_loads(body)
            except switches.SwitchError:
                parsed = None
        shown = self.redact(path)
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        entry = {
            "at": round(time.time(), 3),
            "method": method,
            "path": shown,
            "endpoint": endpoint,
            "status": status,
            "outcome": outcome,
            "duration_ms": duration_ms,
            "body_bytes": len(body),
            "json": parsed,
        }
        label = str(status) if outcome == "answered" else outcome
        with self._lock:
            self._requests.append(entry)
            self._counts[(endpoint or "other", label)] += 1
        log.info("%s %s %s -> %s (%.0f ms)", self.name, method, shown, label, duration_ms)

    def _serve_control(self, handler: _Handler, name: str) -> None:
        routes: dict[tuple[str, str], Callable[[Any], Any]] = {
            ("GET", "state"): lambda _: self.state(),
            ("GET", "stats"): lambda _: self.stats(),
            ("GET", "requests"): lambda _: {"requests": self.requests()},
            ("POST", "control"): self._control_from_http,
            ("POST", "reset"): lambda _: self.reset(),
            **self.control_routes(),
        }
        route = routes.get((handler.command, name))
        if route is None:
            known = sorted({f"{method} {CONTROL_PREFIX}{path}" for method, path in routes})
            status = 405 if any(path == name for _, path in routes) else 404
            _write(handler, json_response(status, {"error": f"unknown control request; known: {', '.join(known)}"}))
            return
        try:
            raw = _read_body(handler, MAX_CONTROL_BODY)
            payload = switches.json_loads(raw) if raw.strip() else {}
            answer = route(payload)
        except _BodyError as exc:
            _write(handler, json_response(exc.status, {"error": str(exc)}), close=True)
            return
        except switches.SwitchError as exc:
            _write(handler, json_response(400, {"error": str(exc)}))
            return
        _write(handler, json_response(200, answer))

    def _control_from_http(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise switches.SwitchError("the body must be a JSON object of switches")
        return self.control(**payload)


def _read_body(handler: BaseHTTPRequestHandler, cap: int) -> bytes:
    if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
        return _read_chunked(handler, cap)
    length = handler.headers.get("Content-Length")
    if length is None:
        return b""
    try:
        size = int(length)
        if size < 0:
            raise ValueError
    except ValueError:
        raise _BodyError(400, "Content-Length is not a number") from None
    if size > cap:
        raise _BodyError(413, f"request body over {cap} bytes")
    return handler.rfile.read(size)


def _read_chunked(handler: BaseHTTPRequestHandler, cap: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while True:
        line = handler.rfile.readline(1024)
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise _BodyError(400, "bad chunk size") from None
        if size == 0:
            while handler.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        total += size
        if total > cap:
            raise _BodyError(413, f"request body over {cap} bytes")
        parts.append(handler.rfile.read(size))
        handler.rfile.readline(1024)


def _write(
    handler: BaseHTTPRequestHandler, response: Response, *, close: bool = False, stopping: threading.Event | None = None
) -> None:
    try:
        handler.send_response(response.status, REASONS.get(response.status))
        handler.send_header("Content-Type", response.content_type)
        if close:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        if not response.keepalive_lines:
            handler.send_header("Content-Length", str(len(response.body)))
            handler.end_headers()
            handler.wfile.write(response.body)
            return
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for _ in range(response.keepalive_lines):
            handler.wfile.write(b"1\r\n\n\r\n")
            handler.wfile.flush()
            if stopping is not None and stopping.wait(response.keepalive_interval_s):
                _drop(handler)
                return
        handler.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(response.body), response.body))
    except OSError:
        handler.close_connection = True


def _drop(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection without an answer: the client sees it end (or reset)."""
    handler.close_connection = True
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services and requests.Session
    server_version = "sandbox"
    sys_version = ""
    timeout = 30  # an idle kept-alive connection gives its thread back
    server: _Server

    def _serve(self) -> None:
        self.server.stand_in.serve(self, self.server)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """The stand-in logs each request itself, with the token redacted."""


class _Server(ThreadingHTTPServer):
    """A listener that can stop accepting (connection refused) and start again on its port.

    At most ``max_connections`` connections are served at once (one thread each); more
    wait in the kernel's accept queue.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, stand_in: StandIn, port: int, *, control_only: bool, max_connections: int) -> None:
        super().__init__((HOST, port), _Handler, bind_and_activate=False)
        self.socket.close()
        self.stand_in = stand_in
        self.control_only = control_only
        self._slots = threading.BoundedSemaphore(max_connections)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._refusing = threading.Event()
        self._thread: threading.Thread | None = None
        if port:
            # SO_REUSEPORT would let a second sandbox share a busy port: check it is free first.
            with _socket(reuse_port=False) as probe:
                probe.bind((HOST, port))
                probe.listen(1)
        # Holds the port while the listener is closed, so nothing else takes it.
        self._placeholder = _socket(reuse_port=True)
        try:
            self._placeholder.bind((HOST, port))
        except OSError:
            self._placeholder.close()
            raise
        self.port = self._placeholder.getsockname()[1]
        self.server_address = (HOST, self.port)
        self.server_name, self.server_port = HOST, self.port

    def resume(self) -> None:
        if self._thread is not None:
            return
        self.socket = _socket(reuse_port=True)
        self.socket.bind((HOST, self.port))
        self.socket.listen(self.request_queue_size)
        self._refusing.clear()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()

    def pause(self, *, keep: socket.socket | None = None) -> None:
        self._refusing.set()
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
            self.socket.close()
        self.drop_connections(keep=keep)

    def close(self) -> None:
        self.pause()
        self._placeholder.close()

    def connections(self) -> int:
        with self._open_lock:
            return len(self._open)

    def drop_connections(self, *, keep: socket.socket | None = None) -> None:
        with self._open_lock:
            connections = [connection for connection in self._open if connection is not keep]
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def process_request(self, request: Any, client_address: Any) -> None:
        while not self._slots.acquire(timeout=0.05):
            if self._refusing.is_set():
                self.shutdown_request(request)
                return
        with self._open_lock:
            self._open.add(request)
        # Headers and body go out in separate writes: without this, Nagle and delayed ACKs
        # would add 40 ms to every answer.
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().process_request(request, client_address)
        except BaseException:
            self._release(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def _release(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Resets and timeouts are what a stand-in that loses replies lives with.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


def _socket(*, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock
