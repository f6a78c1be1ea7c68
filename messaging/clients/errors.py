"""What the Green API and DeepSeek clients raise, on top of ``reliability.errors``.

Everything above the clients (the outbox, sentiment, the DLQ) decides by these classes:

- ``PermanentError`` family: retrying cannot help. ``InvalidRequest`` is refused here
  before any call; ``GreenApiRejected`` / ``DeepSeekRejected`` are the remote side's
  refusals (400, 401, 403, 466 quota, ...). Breakers ignore them: our own bad request
  must not open a breaker every process shares.
- ``TransientError`` family: worth another try later. ``UpstreamUnavailable`` (5xx, 499,
  a failed connection), ``InvalidResponse`` (a 2xx whose body is not what the API
  documents), and ``reliability.errors.RateLimited`` (429, or a 5xx with ``Retry-After``).
- ``SendOutcomeUnknown``: sendMessage may have reached Green API and nobody knows whether
  it was accepted. Deliberately not transient, so no retry loop re-sends it blindly.

Every text these errors carry is redacted when the error is built, so ``str(exc)``,
``repr(exc)`` and the fields are safe to log and store.
"""

from __future__ import annotations

from reliability.errors import PermanentError, ReliabilityError, TransientError
from reliability.redaction import redact_text

MAX_DESCRIPTION = 300


def _safe(text: str) -> str:
    return redact_text(text)[:MAX_DESCRIPTION]


class InvalidRequest(PermanentError):
    """Refused before any call: ``field`` (e.g. ``chat_id``, ``message``) is not acceptable."""

    def __init__(self, field: str, description: str) -> None:
        self.field = field
        self.description = _safe(description)
        super().__init__(f"{field}: {self.description}")


class GreenApiRejected(PermanentError):
    """Green API refused the request (400 validation, 401, 403, other non-retryable 4xx)."""

    def __init__(self, status: int, description: str, *, call: str = "") -> None:
        self.status = status
        self.description = _safe(description)
        self.call = call
        super().__init__(f"{call or 'Green API'} rejected with HTTP {status}: {self.description}")


class GreenApiQuotaExceeded(GreenApiRejected):
    """466: the plan's quota is spent; permanent for this message."""


class DeepSeekRejected(PermanentError):
    """DeepSeek refused the request (400 format, 401 key, 402 balance, 422 parameters, ...)."""

    def __init__(self, status: int, description: str) -> None:
        self.status = status
        self.description = _safe(description)
        super().__init__(f"DeepSeek rejected the request with HTTP {status}: {self.description}")


class UpstreamUnavailable(TransientError):
    """The remote side is unwell: a 5xx or 499 answer (``status``), or a network failure
    (``status`` None). ``request_sent`` is False only when the request surely never left
    (connection refused, connect timeout)."""

    def __init__(self, message: str, *, status: int | None = None, request_sent: bool = True) -> None:
        self.status = status
        self.request_sent = request_sent
        super().__init__(_safe(message))


class InvalidResponse(TransientError):
    """A 2xx answer whose body is not what the API documents (not JSON, wrong shape, too
    large, DeepSeek's blank ``content``)."""

    def __init__(self, message: str) -> None:
        super().__init__(_safe(message))


class SendOutcomeUnknown(ReliabilityError):
    """sendMessage may have reached Green API (read timeout, connection reset or aborted,
    a broken or unreadable answer after the request was sent). Never retried blindly:
    the outbox marks the row ``unknown`` and reconciles it."""

    def __init__(self, message: str) -> None:
        super().__init__(_safe(message))
