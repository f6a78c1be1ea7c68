"""The ingest benchmark's baseline view: parse the body, the product's single INSERT, answer.

No authentication, breaker, input guard, validation, cleaning, metrics or enqueue: what
is left is Django, gunicorn and the one statement the product's webhook also runs
(``messaging.services.ingest``'s ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``).
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone

from messaging.models import ReceivedVia, WebhookEvent
from messaging.services.ingest import _insert_once


def bare_webhook(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    sender = body.get("senderData") or {}
    text = ((body.get("messageData") or {}).get("textMessageData") or {}).get("textMessage", "")
    event = WebhookEvent(
        type_webhook=body["typeWebhook"],
        chat_id=sender.get("chatId", ""),
        sender=sender.get("sender", ""),
        sender_name=sender.get("senderName", ""),
        id_message=body.get("idMessage", ""),
        type_message="textMessage",
        text=text,
        payload=body,
        received_via=ReceivedVia.WEBHOOK,
        received_at=timezone.now(),
    )
    stored = _insert_once(event)
    return JsonResponse({"status": "stored" if stored else "duplicate"})


urlpatterns = [path("api/v1/webhooks/green-api/", bare_webhook)]
