"""Green API webhook bodies, shaped as Green API's documentation shows them.

One builder per ``typeWebhook`` the stand-in sends, shared by the Green API stand-in
and the sample-conversation player, so a shape is written once.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from typing import Any

TYPE_INSTANCE = "whatsapp"


class MessageIds:
    """Ids shaped like Green API's (upper-case hex), unique for 2**32 ids per instance.

    The tail is a bijection of a counter (an odd multiplier modulo 2**32), so ids never
    repeat yet do not read as a sequence; the head is random.
    """

    def __init__(self, *, length: int) -> None:
        self._head = length - 8
        self._counter = itertools.count(secrets.randbelow(2**32))
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            number = next(self._counter)
        tail = (number * 0x9E3779B1) % 2**32
        return secrets.token_hex(self._head).upper()[: self._head] + f"{tail:08X}"


def instance_data(*, id_instance: str, wid: str) -> dict[str, Any]:
    return {"idInstance": int(id_instance), "wid": wid, "typeInstance": TYPE_INSTANCE}


def _text(text: str) -> dict[str, Any]:
    return {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}}


def incoming_message(
    *, id_instance: str, wid: str, id_message: str, chat_id: str, sender_name: str, text: str
) -> dict[str, Any]:
    """``incomingMessageReceived``: a customer wrote to us."""
    return {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": instance_data(id_instance=id_instance, wid=wid),
        "timestamp": int(time.time()),
        "idMessage": id_message,
        "senderData": {"chatId": chat_id, "sender": chat_id, "chatName": sender_name, "senderName": sender_name},
        "messageData": _text(text),
    }


def outgoing_api_message(*, id_instance: str, wid: str, id_message: str, chat_id: str, text: str) -> dict[str, Any]:
    """``outgoingAPIMessageReceived``: a message sent through the API, shaped like an incoming one."""
    number = chat_id.split("@", 1)[0]
    return {
        "typeWebhook": "outgoingAPIMessageReceived",
        "instanceData": instance_data(id_instance=id_instance, wid=wid),
        "timestamp": int(time.time()),
        "idMessage": id_message,
        "senderData": {"chatId": chat_id, "sender": wid, "chatName": number, "senderName": "Sandbox"},
        "messageData": _text(text),
    }


def outgoing_status(
    *, id_instance: str, wid: str, id_message: str, chat_id: str, status: str, description: str = ""
) -> dict[str, Any]:
    """``outgoingMessageStatus``: sent, delivered, read, or failed with a description."""
    body: dict[str, Any] = {
        "typeWebhook": "outgoingMessageStatus",
        "chatId": chat_id,
        "instanceData": instance_data(id_instance=id_instance, wid=wid),
        "timestamp": int(time.time()),
        "idMessage": id_message,
        "status": status,
        "sendByApi": True,
    }
    if description:
        body["description"] = description
    return body


def state_changed(*, id_instance: str, wid: str, state: str | None) -> dict[str, Any]:
    """``stateInstanceChanged``: the instance's authorization state moved."""
    return {
        "typeWebhook": "stateInstanceChanged",
        "instanceData": instance_data(id_instance=id_instance, wid=wid),
        "timestamp": int(time.time()),
        "stateInstance": state,
    }


QUOTA_DESCRIPTION = (
    "Monthly quota has been exceeded. You can only send or receive messages from the chats already used "
    "this month. Please go to your personal account and change the tariff to business"
)


def quota_data(*, used: int) -> dict[str, Any]:
    return {
        "method": "correspondents",
        "used": used,
        "total": 3,
        "status": "CORRESPONDENTS_QUOTA_EXCEEDED",
        "description": QUOTA_DESCRIPTION,
    }


def quota_exceeded(*, id_instance: str, wid: str, used: int) -> dict[str, Any]:
    """``quotaExceeded``: the plan's limit was hit."""
    return {
        "typeWebhook": "quotaExceeded",
        "instanceData": instance_data(id_instance=id_instance, wid=wid),
        "timestamp": int(time.time()),
        "quotaData": quota_data(used=used),
    }
