"""What the messaging doors accept: chat ids, phone numbers and message texts.

Green API addresses a person as ``79001234567@c.us`` (country code and number, no ``+``),
a group as ``120363043968066561@g.us`` (older ``11001234567-1581234048@g.us``) and newer
accounts as ``...@lid``. Digits are ASCII only: ``\\d`` would also accept Arabic-Indic or
full-width digits, which Green API refuses after the row is already queued.

Texts are checked before any row is written or any call made: Green API refuses more
than 20,000 characters, PostgreSQL cannot store U+0000, and a lone UTF-16 surrogate
(valid in JSON's ``\\ud800``, not in UTF-8) cannot be stored or sent either.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from messaging.services.triggers import MAX_MESSAGE_CHARS

# E.164: at most 15 digits with the country code; the shortest real numbers have 7 or so.
PHONE_MIN_DIGITS = 7
PHONE_MAX_DIGITS = 15

_CHAT_ID = re.compile(r"[0-9]{5,20}@c\.us|[0-9]{5,30}(?:-[0-9]{5,20})?@g\.us|[0-9]{5,30}@lid", re.ASCII)
# Separators people write inside a number; anything else is not a phone number.
_PHONE_SEPARATORS = re.compile(r"[ ()\-.]", re.ASCII)


def chat_id_validate(*, chat_id: str) -> str:
    """``chat_id`` if it is a personal, group or lid chat id; ``ValidationError`` saying the shape otherwise."""
    if not _CHAT_ID.fullmatch(chat_id):
        raise ValidationError(
            "not a chat id: expected digits@c.us (a person, e.g. 79001234567@c.us), digits@g.us (a group) or digits@lid"
        )
    return chat_id


def chat_id_from_phone(*, phone: str) -> str:
    """The personal chat id of ``phone`` (``+7 900 123-45-67`` -> ``79001234567@c.us``)."""
    digits = _PHONE_SEPARATORS.sub("", phone.strip())
    if digits.startswith("+"):
        digits = digits[1:]
    if not digits.isascii() or not digits.isdigit():
        raise ValidationError("not a phone number: digits with the country code, e.g. +79001234567")
    if not PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS:
        raise ValidationError(
            f"a phone number has {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits with the country code"
        )
    if digits.startswith("0"):
        raise ValidationError("start with the country code, not 0 (e.g. 79001234567)")
    return f"{digits}@c.us"


def message_text_validate(*, text: str) -> str:
    """``text`` if Green API can send it and we can store it; ``ValidationError`` saying why not."""
    if not text.strip():
        raise ValidationError("may not be empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValidationError(f"at most {MAX_MESSAGE_CHARS:,} characters (got {len(text):,})")
    if "\x00" in text:
        raise ValidationError("may not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("is not valid Unicode (a lone surrogate)") from None
    return text
