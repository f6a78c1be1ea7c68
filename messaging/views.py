"""The Green API webhook: ``POST /api/v1/webhooks/green-api/``. Thin: storing is ``services.ingest``.

Order matters for cost: the token is checked before the body is read, the size before it
is parsed. A plain Django view (not DRF): token auth only, no session, no CSRF, nothing
between the request and the one INSERT but the input guard and the breaker middleware
of the prefix. A database that cannot be written raises out of here and
``config.unavailable.DependencyUnavailableMiddleware`` answers 503 with Retry-After,
so Green API delivers the event again.

A body sent in chunks (``Transfer-Encoding: chunked``, no Content-Length) is read from
the server's decoded stream: Django reads a body by its Content-Length only, so it would
see an empty one, and a valid event would be refused and redelivered for a day. Only a
server that ends that stream itself (``wsgi.input_terminated``, as gunicorn does) can be
read this way; any other answers 411.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.metrics import bearer_token_matches
from config.responses import error_response
from messaging.services.ingest import WebhookRejected, webhook_body_parse, webhook_event_ingest, webhook_refusal_count


def _refuse(request: HttpRequest, status: int, message: str, outcome: str, *, counted: bool = False) -> HttpResponse:
    if not counted:
        webhook_refusal_count(outcome=outcome)
    response = error_response(request, status=status, message=message)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="green-api-webhook"'
    return response


@csrf_exempt
@require_POST
def green_api_webhook(request: HttpRequest) -> HttpResponse:
    if not bearer_token_matches(request, settings.GREEN_API_WEBHOOK_TOKEN):
        return _refuse(request, 401, "missing or wrong 'Authorization: Bearer <webhook token>'", "unauthorized")
    limit = settings.GREEN_API_WEBHOOK_MAX_BYTES
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        if not request.META.get("wsgi.input_terminated"):
            return _refuse(request, 411, "this server cannot read a chunked body: send a Content-Length", "invalid")
        raw = request.META["wsgi.input"].read(limit + 1)
    else:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit():
            return _refuse(request, 400, "Content-Length is not a number", "invalid")
        if int(declared) > limit:
            return _refuse(request, 413, f"the body is larger than {limit} bytes", "too_large")
        raw = request.read(limit + 1)
    if len(raw) > limit:
        return _refuse(request, 413, f"the body is larger than {limit} bytes", "too_large")
    try:
        result = webhook_event_ingest(body=webhook_body_parse(raw=raw))
    except WebhookRejected as exc:  # counted by the service, which knew the event's type
        return _refuse(request, exc.status, exc.message, exc.outcome, counted=True)
    return JsonResponse({"status": result.outcome})
