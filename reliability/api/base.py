"""The base of every ops API view: staff only unless a view asks for more, never cached.

Ops answers are live state (a breaker's state, the DLQ backlog) and operator results;
a proxy or browser cache serving a stale one would mislead whoever acts on it, so every
answer, errors included, carries the same ``never_cache`` headers as ``/health`` and
``/metrics``.
"""

from __future__ import annotations

from typing import Any

from django.utils.cache import add_never_cache_headers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reliability.api.permissions import IsStaff


class OpsAPIView(APIView):
    permission_classes = [IsStaff]

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response
