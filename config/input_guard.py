"""Refuse input that cannot be stored or parsed safely, with a 400 and a message.

PostgreSQL text cannot hold a NUL character: psycopg raises ``ValueError`` in the middle
of the query, so a NUL that reaches any lookup (a breaker name in the URL, an admin
filter, a reason typed into a form) used to end as a 500. ``InputGuardMiddleware``
refuses it at the door instead, for the path, the query string, the headers and cookies,
and the form data of a POST. It also refuses admin change-list selections that are not
ids of the list's model, which the stock admin passes to the database unchecked.

JSON bodies are not scanned here: they are refused by ``json_loads_strict`` (used by the
API's JSON parser), which also refuses NaN and Infinity, nesting deeper than
``MAX_JSON_DEPTH``, and NUL or a lone surrogate (``"\\ud800"``, which no UTF-8 text
column or jsonb can store: a 500 at the insert) in any string or key, so every JSON door
has the same rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from config.responses import error_response

NUL = "\x00"
# Deeper than any payload Green API, DeepSeek or an operator sends; shallow enough that
# every recursive consumer of the parsed value (redaction, JSON columns) stays far from
# Python's recursion limit.
MAX_JSON_DEPTH = 32
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _holds_nul(items: Iterable[tuple[str, list[str]]]) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in items)


def nul_location(request: HttpRequest) -> str | None:
    """Where the request carries a NUL character, or None. Percent-encoded ``%00`` counts."""
    if NUL in request.path:
        return "URL path"
    if _holds_nul(request.GET.lists()):
        return "query string"
    if any(NUL in value for key, value in request.META.items() if key.startswith("HTTP_") and isinstance(value, str)):
        return "request headers"
    # The raw Cookie header passed above, but Django unescapes ``"\000"`` in cookie values.
    if any(NUL in key or NUL in value for key, value in request.COOKIES.items()):
        return "cookies"
    if request.method == "POST" and request.content_type in FORM_CONTENT_TYPES and _holds_nul(request.POST.lists()):
        return "form data"
    return None


def admin_selection_error(request: HttpRequest, view_func: Callable[..., Any]) -> str | None:
    """Why the ids ticked on an admin change list cannot be ids of its model, or None.

    The stock admin filters ``pk__in`` with whatever was posted and runs the action on
    that queryset, which fails on evaluation (``_selected_action=abc`` on an integer
    key) with a 500. Every ``ModelAdmin`` URL carries its admin as ``model_admin``.
    """
    model_admin = getattr(view_func, "model_admin", None)
    if model_admin is None or request.method != "POST" or view_func.__name__ != "changelist_view":
        return None
    pk = model_admin.model._meta.pk
    for value in request.POST.getlist(ACTION_CHECKBOX_NAME):
        try:
            pk.to_python(value)
        except ValidationError:
            return f"{value[:40]!r} is not a valid {model_admin.opts.verbose_name} id; select the rows on the list page"
    return None


class InputGuardMiddleware:
    """Early in ``MIDDLEWARE``: a NUL anywhere, or admin ids of the wrong type, is a 400."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = nul_location(request)
        if where is not None:
            return error_response(request, status=400, message=f"NUL characters are not allowed in the {where}")
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        problem = admin_selection_error(request, view_func)
        return error_response(request, status=400, message=problem) if problem else None


class UnsafeJSON(ValueError):
    """A JSON document that parses but must not be used (too deep, NUL, NaN)."""


def _refuse_constant(name: str) -> Any:
    raise UnsafeJSON(f"{name} is not valid JSON; send a number or null")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf, which no database column holds
        raise UnsafeJSON(f"the number {text[:40]} is too large")
    return value


def json_loads_finite(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN, Infinity and numbers beyond a float, and turns a
    document nested too deep for the parser into ``UnsafeJSON``. Every door that reads
    JSON from outside (API, webhook, the clients' answers) parses through this."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise UnsafeJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None


def _check_string(text: str) -> None:
    if NUL in text:
        raise UnsafeJSON("NUL characters (\\u0000) are not allowed in JSON strings")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeJSON("JSON strings must be valid Unicode: a lone surrogate (\\ud800-\\udfff) is not") from None


def _check_parsed(value: Any) -> None:
    # Iterative, so checking a deep document cannot itself run out of stack.
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise UnsafeJSON(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


def json_loads_strict(text: str | bytes) -> Any:
    """``json.loads`` for untrusted input: every problem is a ``ValueError`` with a message.

    Refuses what ``json_loads_finite`` refuses, nesting deeper than ``MAX_JSON_DEPTH`` (a
    deep document that would exhaust the parser's recursion is refused the same way), NUL
    characters and lone surrogates.
    """
    value = json_loads_finite(text)
    _check_parsed(value)
    return value
