"""Chat ids, phone numbers and message texts: what the doors accept before any row or call."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from messaging.validation import chat_id_from_phone, chat_id_validate, message_text_validate


@pytest.mark.parametrize(
    "chat_id",
    ["79001234567@c.us", "120363043968066561@g.us", "11001234567-1581234048@g.us", "123456789012345@lid"],
)
def test_personal_group_and_lid_chat_ids_are_accepted(chat_id):
    assert chat_id_validate(chat_id=chat_id) == chat_id


@pytest.mark.parametrize(
    "chat_id",
    [
        "",
        "79001234567",
        "+79001234567@c.us",
        "79001234567@c.us ",
        " 79001234567@c.us",
        "7900@c.us",
        "79001234567@s.whatsapp.net",
        "٧٩٠٠١٢٣٤٥٦٧@c.us",  # Arabic-Indic digits match \d, not Green API
        "７９００１２３４５６７@c.us",  # full-width digits
        "79001234567@c.us\x00",
        "79001234567@c.us\n",
        "1" * 21 + "@c.us",
        "abc@g.us",
    ],
)
def test_anything_else_is_not_a_chat_id(chat_id):
    with pytest.raises(ValidationError, match="not a chat id"):
        chat_id_validate(chat_id=chat_id)


@pytest.mark.parametrize(
    ("phone", "chat_id"),
    [
        ("+79001234567", "79001234567@c.us"),
        ("79001234567", "79001234567@c.us"),
        ("+7 (900) 123-45-67", "79001234567@c.us"),
        (" +44 20 7946 0958 ", "442079460958@c.us"),
        ("+1.415.555.2671", "14155552671@c.us"),
    ],
)
def test_phone_numbers_become_personal_chat_ids(phone, chat_id):
    assert chat_id_from_phone(phone=phone) == chat_id


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        ("", "not a phone number"),
        ("+", "not a phone number"),
        ("++79001234567", "not a phone number"),
        ("7900abc4567", "not a phone number"),
        ("٧٩٠٠١٢٣٤٥٦٧", "not a phone number"),
        ("79001234567\x00", "not a phone number"),
        ("123456", "7 to 15 digits"),
        ("1234567890123456", "7 to 15 digits"),
        ("089001234567", "country code"),
        ("79001234567@c.us", "not a phone number"),
    ],
)
def test_what_is_not_a_phone_number_says_why(phone, reason):
    with pytest.raises(ValidationError, match=reason):
        chat_id_from_phone(phone=phone)


def test_a_text_of_exactly_20000_characters_is_accepted():
    text = "я" * 20_000
    assert message_text_validate(text=text) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "may not be empty"),
        (" \n\t ", "may not be empty"),
        ("a" * 20_001, "at most 20,000 characters \\(got 20,001\\)"),
        ("hello\x00world", "NUL"),
        ("broken \ud800 surrogate", "lone surrogate"),
    ],
)
def test_texts_that_cannot_be_stored_or_sent_are_refused_with_the_reason(text, reason):
    with pytest.raises(ValidationError, match=reason):
        message_text_validate(text=text)


def test_emoji_and_other_scripts_are_ordinary_text():
    text = "Спасибо! 🙏 شكرا 谢谢"
    assert message_text_validate(text=text) == text
