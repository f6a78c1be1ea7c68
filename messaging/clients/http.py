"""The HTTP exchange both clients share: sessions, timeouts, capped reads, and the
translation of what happened on the wire into ``messaging.clients.errors``.

One call is ``retry(breaker(exchange))``: each attempt passes its breaker, and the retry
loop (with the service's retry budget) sits outside, so an open breaker ends the loop at
once. Inside the breaker every failure is already one of our errors, which is how the
breaker tells "the remote is unwell" (5xx, network trouble, a garbage answer: counted)
from "our request was wrong" (4xx: ignored).

Sessions: one ``requests.Session`` per service per process, shared by its threads, with
at most ``MAX_CONNECTIONS_PER_PROCESS`` connections (a thread that finds them all busy
waits for one). A forked child never uses a session created before the fork: its sockets
are the parent's, and two processes reading one socket mix up their answers.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any, TypeVar

import requests
import structlog
import urllib3
from requests.adapters import HTTPAdapter

from config.input_guard import json_loads_finite
from messaging.clients.errors import InvalidRequest, InvalidResponse, SendOutcomeUnknown, UpstreamUnavailable
from reliability.breaker import get_circuit_breaker
from reliability.errors import RateLimited, ReliabilityError, TransientError
from reliability.redaction import MASK
from reliability.retry import RetryConfig, RetryHandler, parse_retry_after

logger = structlog.get_logger(__name__)
T = TypeVar("T")

MAX_CONNECTIONS_PER_PROCESS = 10
READ_CHUNK = 16 * 1024
USER_AGENT = "whatsapp-reliability/0.1"


# --- sessions ------------------------------------------------------------------------


class _ProcessSessions:
    """The sessions of this process, by service; forgotten in a forked child."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.sessions: dict[str, requests.Session] = {}


_state = _ProcessSessions()


def _forget_after_fork() -> None:
    # Not closed: closing would only close the child's copies of the parent's sockets,
    # and a lock another parent thread held at the fork would never be released here.
    global _state
    _state = _ProcessSessions()


os.register_at_fork(after_in_child=_forget_after_fork)


def new_session() -> requests.Session:
    """A session with a bounded pool, no automatic retries, and no cookies kept (nothing
    one caller's answer sets can leak into another caller's request)."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=MAX_CONNECTIONS_PER_PROCESS, pool_block=True, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "identity"})
    return session


def process_session(service: str) -> requests.Session:
    """This process's session for ``service``, created on first use (and again after a fork)."""
    state = _state
    if state.pid != os.getpid():  # forked by something that bypassed os.fork's hooks
        _forget_after_fork()
        state = _state
    session = state.sessions.get(service)
    if session is None:
        with state.lock:
            session = state.sessions.get(service)
            if session is None:
                session = state.sessions[service] = new_session()
    return session


# --- one exchange --------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def retry_after(self) -> float | None:
        value = self.headers.get("Retry-After")
        return parse_retry_after(value, now=time.time()) if value else None


# Raised by requests before anything is sent: our own URL, headers or body are wrong.
_UNSENDABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidJSONError,
)


class _TooSlow(Exception):
    pass


class _TooLarge(Exception):
    pass


def request_never_left(exc: requests.RequestException) -> bool:
    """True only when the request surely did not reach the remote side: the connection
    was refused or could not be set up in time. Anything else (reset, aborted, read
    timeout, a broken answer) may have happened after the remote read our request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", None)  # urllib3's MaxRetryError wraps connect failures
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def describe_network_failure(exc: requests.RequestException, secrets: tuple[str, ...]) -> str:
    """A short account of a requests failure without its URL: requests' own text names
    the URL, and Green API's URL ends in the instance token."""
    inner: object = exc.args[0] if exc.args else exc
    if isinstance(inner, urllib3.exceptions.MaxRetryError):
        inner = inner.reason  # its own text names the URL; the reason names only host and port
    return scrub(f"{type(exc).__name__}: {inner}", secrets)


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` without the literal secrets of this client (tests and multi-instance
    setups may use tokens that are not in settings; ``redact_text`` catches the rest)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def exchange(
    session: requests.Session,
    method: str,
    url: str,
    *,
    call: str,
    timeout: tuple[float, float],
    max_bytes: int,
    secrets: tuple[str, ...],
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    params: Mapping[str, Any] | None = None,
) -> Reply:
    """One HTTP request, its whole answer read within ``connect + read`` seconds and at
    most ``max_bytes`` long. Network trouble raises ``UpstreamUnavailable`` (with
    ``request_sent``); an oversized answer ``InvalidResponse``. The status is not judged here.

    Each wait for data is bounded by the read timeout; the overall bound stops a server
    that keeps the connection alive with a trickle (DeepSeek's blank lines under load).
    """
    connect_timeout, read_timeout = timeout
    deadline = time.monotonic() + connect_timeout + read_timeout
    failure: Exception | None = None
    try:
        response = session.request(
            method,
            url,
            headers=headers,
            json=json_body,
            params=params,
            timeout=timeout,
            stream=True,
            allow_redirects=False,
        )
    except _UNSENDABLE as exc:
        failure = InvalidRequest("request", f"{call}: {type(exc).__name__}, nothing was sent")
    except requests.RequestException as exc:
        failure = UpstreamUnavailable(
            f"{call}: {describe_network_failure(exc, secrets)}", request_sent=not request_never_left(exc)
        )
    else:
        try:
            body = _read_capped(response, max_bytes=max_bytes, deadline=deadline)
        except _TooLarge:
            failure = InvalidResponse(f"{call}: the answer is larger than {max_bytes} bytes")
        except _TooSlow:
            failure = UpstreamUnavailable(
                f"{call}: the answer did not complete within {connect_timeout + read_timeout:g} s"
            )
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            failure = UpstreamUnavailable(f"{call}: the answer broke off ({type(exc).__name__})")
        else:
            # Read to the end: hand the connection back to the pool for the next call.
            response.raw.release_conn()
            return Reply(status=response.status_code, headers=response.headers, body=body)
        finally:
            response.close()
    # Raised outside the except blocks, so the original exception (whose text holds the
    # URL, token included) is not even kept as __context__.
    raise failure


def _read_capped(response: requests.Response, *, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise _TooSlow
        # read1 returns as soon as any data arrives, so the deadline is checked between
        # keep-alive blank lines instead of after a full buffer.
        chunk = response.raw.read1(READ_CHUNK, decode_content=True)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise _TooLarge
        chunks.append(chunk)


# --- reading answers -----------------------------------------------------------------


def parse_json(body: bytes, *, call: str) -> Any:
    """The JSON value of ``body`` (leading blank lines allowed), or ``InvalidResponse``.
    NaN, Infinity and numbers beyond a float are refused, and so is nesting too deep to parse."""
    try:
        return json_loads_finite(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidResponse(f"{call}: the answer is not valid JSON") from None


def error_description(body: bytes, secrets: tuple[str, ...]) -> str:
    """What an error answer says, for people: its ``message``/``error`` field or its text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, dict):
        for key in ("message", "error", "description"):
            found = value.get(key)
            if isinstance(found, dict):
                found = found.get("message")
            if isinstance(found, str) and found.strip():
                text = found.strip()
                break
    return scrub(text, secrets) or "(no description)"


RETRYABLE_STATUSES = frozenset({408, 429, 499, 500, 502, 503, 504})


def raise_for_retryable_status(reply: Reply, *, call: str) -> None:
    """429, and a 503 that says when to come back (``Retry-After``), are ``RateLimited``;
    408, 499 and other 5xx are ``UpstreamUnavailable``. Other statuses return."""
    status = reply.status
    if status not in RETRYABLE_STATUSES and not 500 <= status <= 599:
        return
    retry_after = reply.retry_after() if status in (429, 503) else None
    if status == 429 or retry_after is not None:
        wait = f"{retry_after:g} s" if retry_after is not None else "unspecified"
        raise RateLimited(f"{call}: HTTP {status}, asked to wait ({wait})", retry_after=retry_after)
    raise UpstreamUnavailable(f"{call}: HTTP {status}", status=status)


# --- the client skeleton -------------------------------------------------------------


class ServiceClient:
    """Session, timeouts, breaker and retries of one remote service (``service`` names
    the breaker and the retry budget). Subclasses describe calls; ``_call`` runs them."""

    service: str = ""
    max_bytes: int = 1024 * 1024

    def __init__(
        self,
        *,
        connect_timeout: float,
        read_timeout: float,
        secrets: tuple[str, ...],
        session: requests.Session | None = None,
        breaker: Any = None,
        retry: RetryHandler | None = None,
    ) -> None:
        self.timeout = (float(connect_timeout), float(read_timeout))
        self._secrets = tuple(secret for secret in secrets if secret)
        self._owns_session = session is None
        self._session = session if session is not None else new_session()
        self._breaker = breaker if breaker is not None else get_circuit_breaker(self.service)
        self._retry = (
            retry if retry is not None else RetryHandler(RetryConfig(service=self.service, retry_on=self._retryable))
        )

    def _retryable(self, error: BaseException) -> bool:
        """Transient failures, except a wait asked for that is longer than an in-process
        retry may sleep: that one goes back to the caller (a Celery countdown honours it)."""
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after <= float(self._retry.config.max_delay)
        return isinstance(error, TransientError)

    def _call(
        self,
        method: str,
        url: str,
        *,
        call: str,
        judge: Callable[[Reply], T],
        ambiguous_once_sent: bool = False,
        timeout: tuple[float, float] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> T:
        """One logical call: attempts through the breaker, retried while the error is
        transient. With ``ambiguous_once_sent`` a failure after the request may have been
        read (network trouble once sent, 504, an unreadable 2xx) becomes
        ``SendOutcomeUnknown``, which nothing retries."""

        def once() -> T:
            reply = exchange(
                self._session,
                method,
                url,
                call=call,
                timeout=timeout or self.timeout,
                max_bytes=self.max_bytes,
                secrets=self._secrets,
                headers=headers,
                json_body=json_body,
                params=params,
            )
            return judge(reply)

        def attempt() -> T:
            try:
                return self._breaker.call(once)
            except (UpstreamUnavailable, InvalidResponse) as exc:
                if not ambiguous_once_sent or not _may_have_been_accepted(exc):
                    raise
                unknown = SendOutcomeUnknown(f"{exc} (the request may have been accepted)")
            raise unknown

        try:
            return self._retry.execute(attempt)
        except ReliabilityError as exc:
            log = logger.warning if isinstance(exc, SendOutcomeUnknown | TransientError) else logger.info
            log(f"{self.service}_call_failed", call=call, error_class=type(exc).__name__, error=str(exc))
            raise

    def close(self) -> None:
        """Close the session if this client made it; a shared process session stays open."""
        if self._owns_session:
            self._session.close()


def _may_have_been_accepted(exc: Exception) -> bool:
    if isinstance(exc, InvalidResponse):
        return True  # a 2xx came back: the remote side took the request
    return exc.request_sent and exc.status in (None, 504)
