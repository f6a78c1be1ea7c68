"""Green API webhook bodies as Green API sends them (``../shared/protocols/green-api.md``)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from django.conf import settings

_ids = itertools.count(1)


def now() -> int:
    """Green API's timestamps are UNIX seconds of the event."""
    return int(time.time())


def instance_data() -> dict[str, Any]:
    return {"idInstance": int(settings.GREEN_API_ID_INSTANCE), "wid": "79001230000@c.us", "typeInstance": "whatsapp"}


def incoming_text(
    text: str = "My order never arrived",
    *,
    chat_id: str = "79005550101@c.us",
    id_message: str | None = None,
    sender_name: str = "Anna",
    timestamp: int | None = None,
) -> dict[str, Any]:
    return {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": instance_data(),
        "timestamp": now() if timestamp is None else timestamp,
        "idMessage": id_message or f"BAE5F4886F6F{next(_ids):04X}",
        "senderData": {"chatId": chat_id, "sender": chat_id, "chatName": sender_name, "senderName": sender_name},
        "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}},
    }


def outgoing_status(
    status: str,
    *,
    id_message: str,
    chat_id: str = "79005550101@c.us",
    description: str = "",
    timestamp: int | None = None,
) -> dict[str, Any]:
    body = {
        "typeWebhook": "outgoingMessageStatus",
        "instanceData": instance_data(),
        "timestamp": now() if timestamp is None else timestamp,
        "idMessage": id_message,
        "chatId": chat_id,
        "status": status,
        "sendByApi": True,
    }
    if description:
        body["description"] = description
    return body


def outgoing_api_message(
    text: str, *, id_message: str, chat_id: str = "79005550101@c.us", timestamp: int | None = None
) -> dict[str, Any]:
    body = incoming_text(text, chat_id=chat_id, id_message=id_message, sender_name="Our shop")
    body["typeWebhook"] = "outgoingAPIMessageReceived"
    if timestamp is not None:
        body["timestamp"] = timestamp
    return body


def state_changed(state: str = "authorized", *, timestamp: int = 1764326500) -> dict[str, Any]:
    return {
        "typeWebhook": "stateInstanceChanged",
        "instanceData": instance_data(),
        "timestamp": timestamp,
        "stateInstance": state,
    }


def quota_exceeded(*, timestamp: int = 1764326600) -> dict[str, Any]:
    return {
        "typeWebhook": "quotaExceeded",
        "instanceData": instance_data(),
        "timestamp": timestamp,
        "quotaData": {
            "method": "correspondents",
            "used": 3,
            "total": 3,
            "status": "CORRESPONDENTS_QUOTA_EXCEEDED",
            "description": "Monthly quota has been exceeded.",
        },
    }


def auth_header() -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.GREEN_API_WEBHOOK_TOKEN}"}
