"""Recipients and texts are checked in one place, before any call."""

from __future__ import annotations

import pytest

from messaging.clients.errors import InvalidRequest
from messaging.clients.validation import chat_id_normalize, message_id_validate, message_text_validate


@pytest.mark.parametrize(
    "given, chat_id",
    [
        ("79001234567", "79001234567@c.us"),
        ("+79001234567", "79001234567@c.us"),
        ("+7 900 123-45-67", "79001234567@c.us"),
        ("+7 (900) 123-45-67", "79001234567@c.us"),
        ("7.900.123.45.67", "79001234567@c.us"),
        ("  79001234567  ", "79001234567@c.us"),
        ("79001234567@c.us", "79001234567@c.us"),
        ("79001234567@C.US", "79001234567@c.us"),
        ("120363043968066561@g.us", "120363043968066561@g.us"),
        ("11001234567-1581234048@g.us", "11001234567-1581234048@g.us"),
        ("123456789012345@lid", "123456789012345@lid"),
    ],
)
def test_numbers_and_chat_ids_normalise_to_one_form(given, chat_id):
    assert chat_id_normalize(given) == chat_id


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "hello",
        "123456",  # too short for a phone number
        "1234567890123456",  # longer than E.164 allows
        "++79001234567",
        "7900123456a",
        "٧٩٠٠١٢٣٤٥٦٧",  # Arabic-Indic digits: str.isdigit says yes, Green API says no
        "79001234567\x00",
        "79001234567@s.whatsapp.net",
        "@c.us",
        "abc@c.us",
        "79001234567@c.us@c.us",
        "+7900123456@g.us",
        "1" * 101,
        79001234567,
        None,
        ["79001234567"],
    ],
)
def test_garbage_recipients_are_refused(given):
    with pytest.raises(InvalidRequest) as raised:
        chat_id_normalize(given)
    assert raised.value.field == "chat_id"


@pytest.mark.parametrize("text", ["hi", "x" * 20_000, "Привет 👋", "line\nbreaks\tand tabs"])
def test_sendable_texts_pass_unchanged(text):
    assert message_text_validate(text) == text


@pytest.mark.parametrize("text", ["", " \n\t ", "x" * 20_001, "a\x00b", "\ud83d", None, 42, b"bytes"])
def test_unsendable_texts_are_refused(text):
    with pytest.raises(InvalidRequest) as raised:
        message_text_validate(text)
    assert raised.value.field == "message"


def test_the_limit_counts_characters_not_bytes():
    assert message_text_validate("й" * 20_000)
    with pytest.raises(InvalidRequest, match="20001 characters"):
        message_text_validate("й" * 20_001)


@pytest.mark.parametrize("value", ["BAE5F4886F6F2D05", "3EB0C767D097B7C7C030", "false_79001234567@c.us_3EB0"])
def test_message_ids(value):
    assert message_id_validate(value) == value


@pytest.mark.parametrize("value", ["", "has space", "x" * 129, None, 5, "id\x00"])
def test_bad_message_ids(value):
    with pytest.raises(InvalidRequest):
        message_id_validate(value)
