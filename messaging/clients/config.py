"""The messaging settings, checked in one place: by the system check at start-up
(``messaging.E001``/``E002``) and by the clients when they are built from settings."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Without these production cannot talk to Green API, accept its webhooks or use DeepSeek.
REQUIRED_IN_PRODUCTION = (
    "GREEN_API_URL",
    "GREEN_API_ID_INSTANCE",
    "GREEN_API_TOKEN",
    "GREEN_API_WEBHOOK_TOKEN",
    "DEEPSEEK_API_KEY",
)
URL_SETTINGS = ("GREEN_API_URL", "DEEPSEEK_BASE_URL")
_DIGITS = re.compile(r"[0-9]{1,20}", re.ASCII)
# Tokens travel in URL paths and headers: printable ASCII without spaces. At least 6
# characters, because redaction masks literal secret values only from that length on.
_TOKEN = re.compile(r"[!-~]{6,512}", re.ASCII)
# The instance token is a URL path segment: unreserved URL characters only.
_PATH_TOKEN = re.compile(r"[A-Za-z0-9._~-]{6,512}", re.ASCII)
TOKEN_SETTINGS = ("GREEN_API_TOKEN", "GREEN_API_WEBHOOK_TOKEN", "DEEPSEEK_API_KEY")


def setting_problem(name: str, value: Any) -> str | None:
    """What is wrong with the value of messaging setting ``name``, or None (unset is not judged here)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if name in URL_SETTINGS:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "must be an http:// or https:// URL with a host"
        if parts.query or parts.fragment or "@" in parts.netloc:
            return "must be a plain base URL (no credentials, query or fragment)"
    if name == "GREEN_API_ID_INSTANCE" and not _DIGITS.fullmatch(value):
        return "must be the instance id: digits only (e.g. 1101000001)"
    if name == "GREEN_API_TOKEN" and not _PATH_TOKEN.fullmatch(value):
        return "must be 6-512 letters, digits or . _ ~ - (it is a segment of every Green API URL)"
    if name in TOKEN_SETTINGS and not _TOKEN.fullmatch(value):
        return "must be 6-512 printable ASCII characters without spaces"
    return None


def missing_settings() -> list[str]:
    return [name for name in REQUIRED_IN_PRODUCTION if not getattr(settings, name, None)]


def required_setting(name: str) -> str:
    """The value of ``name``, or ImproperlyConfigured naming what is missing or wrong."""
    value = getattr(settings, name, None)
    if not value:
        raise ImproperlyConfigured(f"{name} is not set")
    problem = setting_problem(name, value)
    if problem:
        raise ImproperlyConfigured(f"{name} {problem}")
    return value
