"""The shapes of Green API's JSON (webhooks, polled notifications, the outgoing journal).

Only the fields this service reads are declared; everything else is kept in the stored
body and otherwise ignored. Field names are Green API's (``../shared/protocols``).
"""

from __future__ import annotations

from typing import Any, TypedDict


class InstanceData(TypedDict, total=False):
    idInstance: int
    wid: str
    typeInstance: str


class SenderData(TypedDict, total=False):
    chatId: str
    sender: str
    chatName: str
    senderName: str
    senderContactName: str


class TextMessageData(TypedDict, total=False):
    textMessage: str


class ExtendedTextMessageData(TypedDict, total=False):
    text: str
    stanzaId: str
    participant: str


class MessageData(TypedDict, total=False):
    typeMessage: str
    textMessageData: TextMessageData
    extendedTextMessageData: ExtendedTextMessageData


class QuotaData(TypedDict, total=False):
    method: str
    used: int
    total: int
    status: str
    description: str


class WebhookBody(TypedDict, total=False):
    """Every ``typeWebhook``: message events fill senderData and messageData; status events
    chatId, idMessage, status and description; state events stateInstance; quota events quotaData."""

    typeWebhook: str
    instanceData: InstanceData
    timestamp: int
    idMessage: str
    senderData: SenderData
    messageData: MessageData
    chatId: str
    status: str
    description: str
    sendByApi: bool
    stateInstance: str
    quotaData: QuotaData


class JournalEntry(TypedDict, total=False):
    """One message of ``lastOutgoingMessages``."""

    type: str
    idMessage: str
    timestamp: int
    statusMessage: str
    typeMessage: str
    chatId: str
    textMessage: str
    extendedTextMessage: dict[str, Any]
    sendByApi: bool


# typeMessage values whose text we read, and where it is.
TEXT_MESSAGE_TYPES = ("textMessage", "extendedTextMessage", "quotedMessage")


def message_text(message_data: Any) -> tuple[str, str]:
    """``(typeMessage, text)`` of a webhook's ``messageData``; text is "" when it has none we read.

    textMessage keeps it in ``textMessageData.textMessage``; extendedTextMessage and
    quotedMessage (a reply quoting another message) in ``extendedTextMessageData.text``.
    """
    if not isinstance(message_data, dict):
        return "", ""
    type_message = message_data.get("typeMessage")
    if not isinstance(type_message, str):
        return "", ""
    if type_message == "textMessage":
        text = _get(message_data, "textMessageData", "textMessage")
    elif type_message in ("extendedTextMessage", "quotedMessage"):
        text = _get(message_data, "extendedTextMessageData", "text")
    else:
        text = ""
    return type_message, text


def journal_text(entry: JournalEntry) -> str:
    """The text of a ``lastOutgoingMessages`` entry (textMessage, or an extended message's text)."""
    text = entry.get("textMessage")
    if isinstance(text, str) and text:
        return text
    return _get(entry, "extendedTextMessage", "text")


def _get(container: Any, key: str, field: str) -> str:
    inner = container.get(key) if isinstance(container, dict) else None
    value = inner.get(field) if isinstance(inner, dict) else None
    return value if isinstance(value, str) else ""
