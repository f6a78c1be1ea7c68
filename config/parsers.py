"""The API's JSON parser: DRF's, with the rules of ``json_loads_strict``.

Every JSON door of the API reads its body through this parser (``DEFAULT_PARSER_CLASSES``),
so deep nesting, NaN/Infinity and NUL characters are a 400 everywhere alike. (DRF reads
the body through ``request.body``, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bounds it.)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.input_guard import json_loads_strict


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads_strict(stream.read().decode(encoding))
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
