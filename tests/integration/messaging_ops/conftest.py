"""Rows and actors for the messaging admin and API tests.

Rows are written with the ORM as the pipeline would leave them: these tests are about
what the operator doors show and do, not about how the rows came to be. Green API and
DeepSeek are the clients' loopback servers, with fresh breakers for every test.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from messaging.models import (
    OutboundMessage,
    OutboundStatus,
    ProcessingStatus,
    SentimentResult,
    Trigger,
    WebhookEvent,
    WebhookType,
)
from tests.integration.messaging.conftest import (  # noqa: F401 - fixtures: the real clients on loopback servers
    deepseek,
    fresh_reliability,
    green_api,
)

CHAT = "79005550101@c.us"
_ids = count(1)


def incoming_payload(*, chat_id: str, text: str, id_message: str, sender_name: str) -> dict[str, Any]:
    return {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": {"idInstance": 1101000001, "wid": "79001230000@c.us", "typeInstance": "whatsapp"},
        "timestamp": 1764326400,
        "idMessage": id_message,
        "senderData": {"chatId": chat_id, "sender": chat_id, "chatName": sender_name, "senderName": sender_name},
        "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}},
    }


@pytest.fixture
def make_event():
    def make(
        text: str = "My order never arrived",
        *,
        chat_id: str = CHAT,
        at: datetime | None = None,
        type_webhook: str = WebhookType.INCOMING_MESSAGE,
        sender_name: str = "Anna",
        status: str = ProcessingStatus.PROCESSED,
        payload: dict[str, Any] | None = None,
        **fields: Any,
    ) -> WebhookEvent:
        id_message = fields.pop("id_message", f"BAE5{next(_ids):012X}")
        return WebhookEvent.objects.create(
            type_webhook=type_webhook,
            chat_id=chat_id,
            sender=chat_id,
            sender_name=sender_name,
            id_message=id_message,
            type_message="textMessage",
            text=text,
            payload=payload
            or incoming_payload(chat_id=chat_id, text=text, id_message=id_message, sender_name=sender_name),
            received_at=at or timezone.now(),
            processing_status=status,
            **fields,
        )

    return make


@pytest.fixture
def make_sentiment():
    def make(event: WebhookEvent, label: str = "negative", *, score: float = -0.8, degraded: bool = False):
        return SentimentResult.objects.create(
            inbound=event,
            label=label,
            score=score,
            source="fallback" if degraded else "deepseek",
            model="vader" if degraded else "deepseek-v4-flash",
            latency_ms=12.0,
            degraded=degraded,
            error_class="CircuitOpenError" if degraded else "",
        )

    return make


@pytest.fixture
def make_outbound():
    def make(
        text: str = "Sorry to hear that, Anna",
        *,
        chat_id: str = CHAT,
        status: str = OutboundStatus.QUEUED,
        at: datetime | None = None,
        **fields: Any,
    ) -> OutboundMessage:
        at = at or timezone.now()
        return OutboundMessage.objects.create(
            chat_id=chat_id, text=text, status=status, created_at=at, updated_at=at, queued_at=at, **fields
        )

    return make


@pytest.fixture
def make_trigger():
    def make(name: str = "apology", **fields: Any) -> Trigger:
        values = {"keywords": ["order"], "reply_template": "Sorry, {sender_name}!", **fields}
        return Trigger.objects.create(name=name, **values)

    return make


@pytest.fixture
def messaging_user(django_user_model):
    """A user holding exactly the named ``messaging`` permissions (staff, so the admin opens too)."""

    def make(*codenames: str, username: str = "agent", staff: bool = True):
        user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw-123456", is_staff=staff)
        perms = Permission.objects.filter(content_type__app_label="messaging", codename__in=codenames)
        missing = set(codenames) - set(perms.values_list("codename", flat=True))
        assert not missing, f"unknown permissions: {missing}"
        user.user_permissions.add(*perms)
        return user

    return make


@pytest.fixture
def api_client_for():
    """An API client authenticating with the user's token, as an integration would."""

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    return make


def minutes_ago(minutes: float) -> datetime:
    return timezone.now() - timedelta(minutes=minutes)
