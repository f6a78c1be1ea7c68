"""Serializer fields that take exactly the JSON type they document.

DRF's stock fields coerce: ``CharField`` turns ``12`` or ``1.5`` into text,
``BooleanField`` reads ``"yes"`` as true, ``IntegerField`` accepts ``"10"``. A typed
API says what it takes and refuses the rest with a message naming the field.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from messaging.clients.errors import InvalidRequest
from messaging.clients.validation import message_text_validate

# PostgreSQL's integer column.
INT_MAX = 2**31 - 1


def pk_from_path(value: str) -> int | None:
    """The id in a URL, or None when it is not one (letters, non-ASCII digits, past bigint)."""
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) >= 2**63:
        return None
    return int(value)


class StrictCharField(serializers.CharField):
    """A JSON string, never a number or a boolean turned into one.

    NUL characters and lone surrogates never get here: ``config.parsers.StrictJSONParser``
    refuses them in any string of the body."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class MessageTextField(serializers.CharField):
    """A WhatsApp message text: 1 to 20,000 characters, checked by ``message_text_validate``."""

    def __init__(self, **kwargs: Any) -> None:
        # Blank texts must reach message_text_validate too (DRF answers "" before any validator).
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("help_text", "1 to 20,000 characters")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return data

    def run_validation(self, data: Any = serializers.empty) -> str:
        text = super().run_validation(data)
        try:
            return message_text_validate(text, field=self.field_name)
        except InvalidRequest as exc:
            raise serializers.ValidationError(exc.description) from None


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"invalid": "must be true or false"}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "must be an integer"}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class RawListField(serializers.Field):
    """A JSON value passed on as it came, for a service that validates it (and says why not)."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value
