"""The small HTTP client of the sandbox's commands (control, play): loopback, no proxies."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from typing import Any

# Proxies from the environment must not see loopback calls (nor their tokens).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Unreachable(Exception):
    """Nothing answered at the URL; ``str(exc)`` says why in a few words."""


def call(
    method: str, url: str, *, payload: Any = None, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """(status, body): the body parsed as JSON when it is JSON, else its text."""
    data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read(1024 * 1024)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(1024 * 1024)
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise Unreachable(getattr(reason, "strerror", None) or str(reason)) from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise Unreachable(str(exc) or type(exc).__name__) from None
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text
