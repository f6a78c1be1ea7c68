"""What every messaging API view shares: answers are live state, so nothing caches them."""

from __future__ import annotations

from typing import Any

from django.utils.cache import add_never_cache_headers
from rest_framework.request import Request
from rest_framework.response import Response


class NeverCacheMixin:
    """An outbox row's status moves by the second; a cached answer would show an old one.

    The same headers as the ops API (``reliability.api.base.OpsAPIView``), errors included."""

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        add_never_cache_headers(response)
        return response
