"""The Green API webhook: ``POST /api/v1/webhooks/green-api/``. Thin: storing is ``services.ingest``.

Order matters for cost: the token is checked before the body is read, the size before it
is parsed. A plain Django view (not DRF): token auth only, no session, no CSRF, nothing
between the request and the one INSERT but the breaker middleware of the prefix.
A database that cannot be written raises out of here and
``config.unavailable.DependencyUnavailableMiddleware`` answers 503 with Retry-After,
so Green API delivers the event again.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from messaging.services.ingest import WebhookRejected, webhook_body_parse, webhook_event_ingest, webhook_refusal_count


def _refuse(status: int, message: str, outcome: str) -> JsonResponse:
    webhook_refusal_count(outcome=outcome)
    response = JsonResponse({"detail": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="green-api-webhook"'
    return response


def _token_matches(header: str) -> bool:
    """Constant-time comparison as bytes: a header with characters outside latin-1 cannot match."""
    expected = settings.GREEN_API_WEBHOOK_TOKEN
    scheme, _, presented = header.partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    try:
        presented_bytes = presented.strip().encode("latin-1")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(presented_bytes, expected.encode("utf-8"))


@csrf_exempt
@require_POST
def green_api_webhook(request: HttpRequest) -> JsonResponse:
    if not _token_matches(request.META.get("HTTP_AUTHORIZATION", "")):
        return _refuse(401, "missing or wrong 'Authorization: Bearer <webhook token>'", "unauthorized")
    limit = settings.GREEN_API_WEBHOOK_MAX_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if not declared.isdigit():
        return _refuse(400, "Content-Length is not a number", "invalid")
    if int(declared) > limit:
        return _refuse(413, f"the body is larger than {limit} bytes", "too_large")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        return _refuse(413, f"the body is larger than {limit} bytes", "too_large")
    try:
        body = webhook_body_parse(raw=raw)
    except WebhookRejected as exc:
        return _refuse(exc.status, exc.message, exc.outcome)
    try:
        result = webhook_event_ingest(body=body)
    except WebhookRejected as exc:  # counted by the service, which knew the event's type
        return JsonResponse({"detail": exc.message}, status=exc.status)
    return JsonResponse({"status": result.outcome})
