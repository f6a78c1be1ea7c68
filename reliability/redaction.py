"""One redaction pass applied before anything is logged or stored.

Secrets reach error texts, payloads and log lines in four ways, and all four are
replaced here, so the DLQ, the logs and the admin never hold them:

- as values under tell-tale names: a payload's ``apiTokenInstance``, a header pair
  ``["X-Api-Key", v]``, ``password: a b`` or ``token=v`` in text, ``{\\"pwd\\": \\"v\\"}`` in
  JSON-escaped text, ``Authorization%3A%20Token%20v`` URL-encoded;
- inside URLs: Green API puts the instance token in the path, connection URLs carry a
  password;
- in a recognisable shape anywhere: ``Bearer v``, a DeepSeek-style ``sk-...`` key, a PEM
  private key;
- as the literal value of a configured secret (``SECRET_SETTINGS``) echoed back by a
  library, whatever surrounds it.

Which names are secret is decided by one rule, ``_is_secret_name``, for dict keys, pairs
and text alike. Redaction runs on every log line: each text pattern runs only when a cheap
substring test says it could match, so an ordinary line costs a few microseconds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.core.signals import setting_changed

MASK = "[REDACTED]"

# Settings whose literal values must never be shown, wherever they turn up. Read when
# first needed and again after a change (``setting_changed``), so a setting added later
# needs no change here.
SECRET_SETTINGS = (
    "SECRET_KEY",
    "GREEN_API_TOKEN",
    "GREEN_API_WEBHOOK_TOKEN",
    "DEEPSEEK_API_KEY",
    "HEALTH_TOKEN",
    "METRICS_TOKEN",
)
# Shorter configured values would mask ordinary words everywhere.
_MIN_SECRET_LENGTH = 6

# --- Which names are secret --------------------------------------------------------------

# Parts that make a name secret wherever they stand in it (``csrftoken``, ``webhookUrlToken``);
# ``tokens`` is a count (``prompt_tokens``, ``max_tokens``), not a token.
_SECRET_PART = re.compile(
    r"token(?!s(?:_|$))|passw|passphrase|secret|authoriz|cookie|credential|signature|api_?key|private_?key"
)
# Words that are secret only as a whole word of the name: ``auth`` but not ``author``.
_SECRET_WORDS = frozenset({"auth", "pwd", "sig", "jwt", "session", "sessionid"})
_CAMEL_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@functools.lru_cache(maxsize=4096)
def _is_secret_name(name: str) -> bool:
    """True when a key, header or parameter called ``name`` holds a secret."""
    normalised = _NOT_ALNUM.sub("_", _CAMEL_BOUNDARY.sub(r"\1_\2", name).lower()).strip("_")
    if _SECRET_PART.search(normalised):
        return True
    words = normalised.split("_")
    # "key" alone is secret; "idempotency_key" or "cache_key" is an id.
    return words == ["key"] or not _SECRET_WORDS.isdisjoint(words)


# --- Secrets in text ---------------------------------------------------------------------------

_SLASH = r"(?:/|%2[Ff])"
# (hint, pattern, replacement): a pattern runs only on texts whose lower case holds its hint,
# a substring test far cheaper than the regex scan it saves on most log lines.
_SHAPES = (
    # Green API: {apiUrl}/waInstance{id}/{method}/{apiTokenInstance}[/...], also URL-encoded.
    (
        "wainstance",
        re.compile(rf"({_SLASH}waInstance\d+{_SLASH}[A-Za-z]+{_SLASH})[^/?#&\s\"'<>\\%]+", re.IGNORECASE),
        rf"\1{MASK}",
    ),
    # Passwords in connection URLs: scheme://user:password@host
    ("://", re.compile(r"(://[^:/\s@]*:)[^@\s/]+(@)"), rf"\1{MASK}\2"),
    ("bearer", re.compile(r"(\b[Bb][Ee][Aa][Rr][Ee][Rr](?:\s+|%20|\+))[A-Za-z0-9._~+/=-]+"), rf"\1{MASK}"),
    # DeepSeek (OpenAI-style) API keys, wherever they stand.
    ("sk-", re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{20,}"), MASK),
    (
        "private key",
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL),
        MASK,
    ),
)
# Every name ``_is_secret_name`` accepts holds one of these (lower case): a text without
# any of them needs no ``name: value`` scan.
_NAME_HINTS = ("token", "passw", "secret", "auth", "cookie", "credential", "pwd", "sig", "jwt", "session", "key")
# ``name: value``, ``name=value``, ``"name": "value"``, ``\"name\": \"value\"`` (escaped once
# or more), URL-encoded ``name%3Dvalue``, and the pair ``("name", "value")``. Only the head is
# matched here; where the value ends depends on how it opened (``_VALUE_ENDS``).
_PAIR_HEAD = re.compile(
    r"""(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z][A-Za-z0-9_.-]{0,63}+)
    (?:(?:\\*["'])?[ \t]*(?P<op>[:=]|%3[ADad])[ \t]*|\\*["'][ \t]*,[ \t]*(?=\\*["']))
    (?P<quote>\\*["'])?""",
    re.VERBOSE,
)
# An authorization scheme before the credentials belongs to the value: both are masked.
_SCHEME = r"(?:(?:Bearer|Token|Basic|Digest|ApiKey)(?:[ \t]+|%20|\+))?"
_VALUE_ENDS = {
    # A quoted value, its escaped quotes included (escaped once more in a repr: ``\\"``).
    '"': re.compile(r'(?:\\+.|[^"\\\n])*'),
    "'": re.compile(r"(?:\\+.|[^'\\\n])*"),
    # Opened by an escaped quote (JSON inside JSON): up to the next escaped quote.
    '\\"': re.compile(r'(?:[^\\\n]|\\+(?!["\']))*'),
    "\\'": re.compile(r'(?:[^\\\n]|\\+(?!["\']))*'),
    # ``password: correct horse``: every word up to the end of the line or a delimiter.
    ":": re.compile(r"[^\n\r\"'\\,;&}\])]*"),
    # ``token=v`` (query strings, key=value logs): one word.
    "=": re.compile(_SCHEME + r"[^\s\"'\\,;&}\])<>]*", re.IGNORECASE),
    # URL-encoded: up to the next (encoded) parameter.
    "%": re.compile(r"(?:(?!%26)[^\s\"'\\&])*"),
}


def _value_end(text: str, head: re.Match[str]) -> int:
    quote_ = head["quote"]
    if quote_:
        opening = quote_ if len(quote_) == 1 else "\\" + quote_[-1]
    else:
        opening = (head["op"] or ":")[0]
    return _VALUE_ENDS[opening].match(text, head.end()).end()


def _mask_named_values(text: str) -> str:
    parts: list[str] = []
    done = 0
    for head in _PAIR_HEAD.finditer(text):
        if head.start() < done or not _is_secret_name(head["name"]) or text.startswith(MASK, head.end()):
            # Inside a value masked here, an ordinary name (whose value is scanned further),
            # or masked by an earlier pass: log lines are redacted twice.
            continue
        end = _value_end(text, head)
        if end > head.end():
            parts += (text[done : head.end()], MASK)
            done = end
    return "".join(parts) + text[done:] if parts else text


_secret_literals_cache: tuple[str, ...] | None = None


def _secret_literals() -> tuple[str, ...]:
    """Configured secret values (and their URL-encoded forms), longest first."""
    global _secret_literals_cache
    if _secret_literals_cache is None:
        if not settings.configured:
            return ()  # a log line written while settings load: read them next time
        values = {getattr(settings, name, None) for name in SECRET_SETTINGS}
        literals = {
            form
            for value in values
            if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH
            for form in (value, quote(value, safe=""))
        }
        _secret_literals_cache = tuple(sorted(literals, key=len, reverse=True))
    return _secret_literals_cache


def _forget_secret_literals(*, setting: str, **kwargs: Any) -> None:
    global _secret_literals_cache
    if setting in SECRET_SETTINGS:
        _secret_literals_cache = None


setting_changed.connect(_forget_secret_literals)


def redact_text(text: str) -> str:
    """``text`` with every recognisable secret replaced by ``[REDACTED]``."""
    if not text:
        return text
    for secret in _secret_literals():
        if secret in text:
            text = text.replace(secret, MASK)
    lower = text.lower()
    for hint, pattern, replacement in _SHAPES:
        if hint in lower:
            text = pattern.sub(replacement, text)
    if any(hint in lower for hint in _NAME_HINTS):
        text = _mask_named_values(text)
    return text


# --- Secrets in values ---------------------------------------------------------------------------


def redact(value: Any) -> Any:
    """A copy of ``value`` with secret-named entries masked and every text scrubbed.

    Mappings become dicts (keys are scrubbed too: a Green API URL can be a key), lists and
    tuples stay lists and tuples, a ``(name, value)`` pair naming a secret keeps its name.
    Bytes become their (decoded) text and sets a sorted list, so that nothing is turned
    into text after redaction by ``str()``; other values are returned as they are.
    """
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict | Mapping):
        return {
            _redact_key(key): MASK if isinstance(key, str) and _is_secret_name(key) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        if len(value) == 2 and isinstance(value[0], str) and _is_secret_name(value[0]):
            items = [value[0], MASK]  # a header pair: ("Authorization", "Token ...")
        else:
            items = [redact(item) for item in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, bytes | bytearray | memoryview):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, set | frozenset):
        return sorted((redact(item) for item in value), key=repr)
    return value


def _redact_key(key: Any) -> Any:
    return redact(key) if isinstance(key, str | bytes) else key


# structlog keeps these for its own processors; they are rendered (and redacted) later.
_UNTOUCHED_EVENT_KEYS = frozenset({"exc_info", "_record", "_from_structlog"})


def redact_log_event(logger: Any, method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: the last line of defence, so no log line carries a secret."""
    return {
        key: value if key in _UNTOUCHED_EVENT_KEYS else MASK if _is_secret_name(key) else redact(value)
        for key, value in event_dict.items()
    }
