"""One redaction pass applied before anything is logged or stored.

Secrets reach error texts in three ways: as values under tell-tale keys (a payload's
``apiTokenInstance``), inside URLs (Green API puts the instance token in the path), and
as the literal value of a configured secret echoed back by a library. All three are
replaced here, so the DLQ, the logs and the admin never hold them.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

MASK = "[REDACTED]"

_SECRET_KEY_PATTERN = re.compile(
    r"(token|apitokeninstance|api[_-]?key|authorization|password|passwd|secret|cookie|credential|session)",
    re.IGNORECASE,
)
_TEXT_PATTERNS = (
    # Green API: {apiUrl}/waInstance{id}/{method}/{apiTokenInstance}[/...]
    (re.compile(r"(/waInstance\d+/[A-Za-z]+/)[^/?#\s\"'<>]+", re.IGNORECASE), rf"\1{MASK}"),
    # Passwords in connection URLs: scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]*:)[^@\s/]+(@)", re.IGNORECASE), rf"\1{MASK}\2"),
    (re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1{MASK}"),
    # key=value and "key": "value" forms in query strings, headers and reprs.
    (
        re.compile(
            r"""((?:api[_-]?key|apiTokenInstance|access[_-]?token|token|password|secret|authorization)"""
            r"""["']?\s*[:=]\s*["']?)[^"'&\s,}]+""",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
)
# Settings whose literal values must never be shown, wherever they turn up.
SECRET_SETTINGS = (
    "SECRET_KEY",
    "GREEN_API_TOKEN",
    "GREEN_API_WEBHOOK_TOKEN",
    "DEEPSEEK_API_KEY",
    "HEALTH_TOKEN",
    "METRICS_TOKEN",
)


def _configured_secrets() -> list[str]:
    values = (getattr(settings, name, None) for name in SECRET_SETTINGS)
    return [value for value in values if isinstance(value, str) and len(value) >= 6]


def redact_text(text: str) -> str:
    """``text`` with every recognisable secret replaced by ``[REDACTED]``."""
    if not text:
        return text
    for secret in _configured_secrets():
        text = text.replace(secret, MASK)
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_log_event(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the last line of defence, so no log line carries a secret."""
    return {
        key: redact(value) if isinstance(value, str | dict | list | tuple) else value
        for key, value in event_dict.items()
    }


def redact(value: Any) -> Any:
    """A copy of a JSON-like ``value`` with secret-named keys masked and strings scrubbed."""
    if isinstance(value, dict):
        return {
            key: MASK if isinstance(key, str) and _SECRET_KEY_PATTERN.search(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
