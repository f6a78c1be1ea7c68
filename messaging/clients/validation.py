"""Checks on what we are about to send, done once, before any call.

``chat_id_normalize`` is the one place that turns what a user or a trigger gives as a
recipient (a bare number in any common spelling, or a Green API chatId) into a chatId;
``message_text_validate`` the one place that applies Green API's text limits. The API
layer calls them to answer 400 before anything is queued; the clients call them again
so that nothing unchecked ever reaches the wire.
"""

from __future__ import annotations

import re

from messaging.clients.errors import InvalidRequest

MAX_MESSAGE_LENGTH = 20_000  # Green API's limit for sendMessage, in characters
MAX_CHAT_ID_LENGTH = 100

# E.164 numbers have at most 15 digits; below 7 nothing is a phone number.
_PHONE_DIGITS = re.compile(r"[0-9]{7,15}", re.ASCII)
# Spelling people use around a number: +7 (900) 123-45-67, 7.900.123.45.67
_PHONE_PUNCTUATION = re.compile(r"[\s().\-]+")
_CHAT_ID = {
    "c.us": re.compile(r"[0-9]{7,15}", re.ASCII),
    # Groups: 120363043968066561@g.us, or the older 11001234567-1581234048@g.us
    "g.us": re.compile(r"[0-9]{5,30}(?:-[0-9]{5,20})?", re.ASCII),
    "lid": re.compile(r"[0-9]{5,30}", re.ASCII),
}
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_.:@-]{1,128}", re.ASCII)


def chat_id_normalize(value: object) -> str:
    """``value`` as a Green API chatId, or ``InvalidRequest`` naming what is wrong.

    ``79001234567``, ``+7 900 123-45-67`` and ``79001234567@c.us`` all give
    ``79001234567@c.us``; group (``@g.us``) and ``@lid`` ids are kept as they are.
    """
    if not isinstance(value, str):
        raise InvalidRequest("chat_id", f"must be a string, not {type(value).__name__}")
    text = value.strip()
    if not text or len(text) > MAX_CHAT_ID_LENGTH:
        raise InvalidRequest("chat_id", f"must be a phone number or a chatId of 1-{MAX_CHAT_ID_LENGTH} characters")
    if "@" in text:
        local, _, suffix = text.rpartition("@")
        pattern = _CHAT_ID.get(suffix.lower())
        if pattern is None:
            raise InvalidRequest("chat_id", "a chatId ends in @c.us, @g.us or @lid")
        if not pattern.fullmatch(local):
            raise InvalidRequest("chat_id", f"{local!r} is not a valid @{suffix.lower()} id")
        return f"{local}@{suffix.lower()}"
    digits = _PHONE_PUNCTUATION.sub("", text.removeprefix("+"))
    if not _PHONE_DIGITS.fullmatch(digits):
        raise InvalidRequest("chat_id", "a phone number has 7-15 digits with its country code (79001234567)")
    return f"{digits}@c.us"


def message_text_validate(text: object, *, field: str = "message", max_length: int = MAX_MESSAGE_LENGTH) -> str:
    """``text`` unchanged when it can be sent, else ``InvalidRequest``: empty or blank,
    longer than ``max_length`` characters, a NUL character, or not encodable as UTF-8."""
    if not isinstance(text, str):
        raise InvalidRequest(field, f"must be a string, not {type(text).__name__}")
    if not text.strip():
        raise InvalidRequest(field, "must not be empty")
    if len(text) > max_length:
        raise InvalidRequest(field, f"has {len(text)} characters; at most {max_length} are allowed")
    if "\x00" in text:
        raise InvalidRequest(field, "must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(field, "must be valid Unicode (it holds an unpaired surrogate)") from None
    return text


def message_id_validate(value: object, *, field: str = "quoted_message_id") -> str:
    """A Green API idMessage as given to us (quoting) or received (sendMessage's answer)."""
    if not isinstance(value, str) or not _MESSAGE_ID.fullmatch(value):
        raise InvalidRequest(field, "must be a Green API idMessage (1-128 letters, digits, '_', '-', '.', ':', '@')")
    return value
