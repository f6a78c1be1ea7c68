"""How the middlewares refuse a request: JSON for API callers, one line of text for others.

The ops API, the public API and the probes speak JSON, and so does any caller that asks
for it; a browser on an admin page gets plain text rather than a JSON blob.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

JSON_PATH_PREFIXES = ("/api/", "/admin/reliability/", "/health/")


def wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PATH_PREFIXES) or "json" in request.headers.get("Accept", "")


def error_response(request: HttpRequest, *, status: int, message: str) -> HttpResponse:
    """``{"detail": message}`` or ``message`` as text, with ``status``."""
    if wants_json(request):
        return JsonResponse({"detail": message}, status=status)
    return HttpResponse(f"{message}\n", status=status, content_type="text/plain; charset=utf-8")
