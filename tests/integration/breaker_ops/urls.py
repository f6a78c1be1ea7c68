"""A stand-in for the public API (built by a later issue): views that fail on demand and count their runs."""

from __future__ import annotations

from collections import Counter

from django.http import HttpRequest, JsonResponse
from django.urls import path

calls: Counter[str] = Counter()


def ok(request: HttpRequest, area: str) -> JsonResponse:
    calls[f"{area}:ok"] += 1
    return JsonResponse({"ok": True})


def fail(request: HttpRequest, area: str) -> JsonResponse:
    calls[f"{area}:fail"] += 1
    return JsonResponse({"error": "backend down"}, status=502)


def bad_request(request: HttpRequest, area: str) -> JsonResponse:
    calls[f"{area}:bad"] += 1
    return JsonResponse({"error": "missing field"}, status=400)


def boom(request: HttpRequest, area: str) -> JsonResponse:
    calls[f"{area}:boom"] += 1
    raise RuntimeError("bug in the view")


urlpatterns = [
    path("api/v1/<str:area>/ok/", ok),
    path("api/v1/<str:area>/fail/", fail),
    path("api/v1/<str:area>/bad/", bad_request),
    path("api/v1/<str:area>/boom/", boom),
    path("<str:area>/ok/", ok),
    path("<str:area>/fail/", fail),
]
