"""A JSON parser that answers 400 or 413 to anything hostile instead of a 500 or a stall.

DRF's own parser lets four things through: a deeply nested body raises
``RecursionError`` (a 500), ``1e999`` becomes ``inf``, ``"\\ud800"`` becomes a string
PostgreSQL refuses to store (a 500 at the insert), and there is no size limit on what it
reads. The bodies of this API are small flat objects, so the limits are tight.
"""

from __future__ import annotations

import codecs
import json
import math
from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

# A 20,000-character text written as \uXXXX escapes is 120,000 bytes; room for the rest.
MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 8


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = f"request body over {MAX_BODY_BYTES} bytes"
    default_code = "payload_too_large"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check(data: Any) -> None:
    """Refuse nesting past ``MAX_DEPTH`` and strings with lone surrogates (``"\\ud800"``)
    anywhere: PostgreSQL refuses them (jsonb and text alike), which would be a 500."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            if not _storable(item):
                raise ParseError("JSON string with a lone surrogate: not valid Unicode")
            continue
        if isinstance(item, dict):
            for key in item:
                if not _storable(key):
                    raise ParseError("JSON key with a lone surrogate: not valid Unicode")
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | str))


class StrictJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        if stream is None:
            return {}
        raw = stream.read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError(f"the body is not valid {encoding}") from None
        try:
            data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        _check(data)
        return data
