"""``/api/v1/messages/``: send a WhatsApp message through the outbox, and follow it.

``POST`` validates everything first (a bad chat id or a 20,001-character text is a 400
before any row or call), writes an outbox row and answers 202: the send happens after
commit, in a worker, through the Green API breaker and retries. ``GET /{id}`` reads the
row as it moves: queued, sending, sent, delivered, read (or unknown while it is being
reconciled, failed with the reason).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from config.parsers import StrictJSONParser
from messaging.api.base import NeverCacheMixin
from messaging.api.fields import MessageTextField, StrictCharField, pk_from_path
from messaging.api.permissions import ModelPermissions
from messaging.api.schema import ERRORS, NOT_FOUND, ConflictSerializer
from messaging.clients.errors import InvalidRequest
from messaging.clients.validation import chat_id_normalize
from messaging.models import OutboundMessage, OutboundStatus
from messaging.services.outbound_ops import (
    MAX_IDEMPOTENCY_KEY_CHARS,
    IdempotencyConflict,
    api_idempotency_key,
    outbound_request,
)
from reliability.redaction import redact_text

IDEMPOTENCY_HEADER = "Idempotency-Key"


class OutboundMessageSerializer(serializers.ModelSerializer):
    """An outbox row as an API client sees it."""

    last_error = serializers.SerializerMethodField(help_text="why the last attempt failed, secrets redacted")
    trigger = serializers.PrimaryKeyRelatedField(read_only=True, help_text="the trigger that wrote it, if any")
    inbound = serializers.PrimaryKeyRelatedField(read_only=True, help_text="the inbound event it replies to, if any")

    class Meta:
        model = OutboundMessage
        fields = (
            "id",
            "chat_id",
            "text",
            "status",
            "id_message",
            "attempts",
            "last_error",
            "trigger",
            "inbound",
            "created_at",
            "queued_at",
            "sending_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "failed_at",
            "next_attempt_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_last_error(self, obj: OutboundMessage) -> str:
        return redact_text(obj.last_error)


def _idempotency_key_check(value: str) -> str:
    if not value or len(value) > MAX_IDEMPOTENCY_KEY_CHARS or not all("!" <= char <= "~" for char in value):
        raise serializers.ValidationError(
            f"1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters (no spaces), e.g. a UUID"
        )
    return value


def _recipient(value: str) -> str:
    try:
        return chat_id_normalize(value)
    except InvalidRequest as exc:
        raise serializers.ValidationError(exc.description) from None


class RecipientSerializer(serializers.Serializer):
    """Exactly one of ``chat_id`` and ``phone``; validated into ``chat_id``."""

    chat_id = StrictCharField(
        required=False, max_length=255, help_text="79001234567@c.us (a person), ...@g.us (a group) or ...@lid"
    )
    phone = StrictCharField(
        required=False, max_length=32, help_text="with the country code, e.g. +79001234567; becomes <digits>@c.us"
    )

    def validate_chat_id(self, value: str) -> str:
        return _recipient(value)

    def validate_phone(self, value: str) -> str:
        if "@" in value:
            raise serializers.ValidationError("a phone number, not a chat id: send that as chat_id")
        return _recipient(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        chat_id, phone = attrs.pop("chat_id", None), attrs.pop("phone", None)
        if (chat_id is None) == (phone is None):
            raise serializers.ValidationError({"chat_id": ["give exactly one of chat_id and phone"]})
        return {**attrs, "chat_id": chat_id or phone}


class IdempotentSerializer(serializers.Serializer):
    """The optional ``idempotency_key`` field, or the ``Idempotency-Key`` header (the same value if both)."""

    idempotency_key = StrictCharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="or the Idempotency-Key header: a repeated request returns the first request's row",
    )

    def validate_idempotency_key(self, value: str) -> str:
        return _idempotency_key_check(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        header = self.context.get("idempotency_header")
        field = attrs.get("idempotency_key")
        if header is not None:
            try:
                header = _idempotency_key_check(header)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError(
                    {"idempotency_key": [f"{IDEMPOTENCY_HEADER} header: {exc.detail[0]}"]}
                ) from None
            if field is not None and field != header:
                raise serializers.ValidationError(
                    {"idempotency_key": [f"differs from the {IDEMPOTENCY_HEADER} header: send one, or the same"]}
                )
        attrs["idempotency_key"] = field or header or ""
        return attrs


class MessageSendSerializer(IdempotentSerializer, RecipientSerializer):
    text = MessageTextField()


class MessagePagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def idempotency_header(request: Request) -> str | None:
    return request.headers.get(IDEMPOTENCY_HEADER)


class MessageListView(NeverCacheMixin, GenericAPIView):
    """The outbox through the API: list rows, or send a message."""

    queryset = OutboundMessage.objects.all()
    serializer_class = OutboundMessageSerializer
    permission_classes = [ModelPermissions]
    parser_classes = [StrictJSONParser]
    pagination_class = MessagePagination

    @extend_schema(
        operation_id="messages_list",
        description="Outbox rows, newest first (cursor pagination), filterable by `chat_id` and `status`.",
        parameters=[
            OpenApiParameter("chat_id", str, description="only this chat"),
            OpenApiParameter("status", str, enum=OutboundStatus.values, description="only this status"),
        ],
        responses={200: OutboundMessageSerializer(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        rows = self.get_queryset()
        errors = {}
        chat_id = request.query_params.get("chat_id")
        if chat_id is not None:
            if "\x00" in chat_id or len(chat_id) > 255:
                errors["chat_id"] = ["not a chat id"]
            rows = rows.filter(chat_id=chat_id)
        state = request.query_params.get("status")
        if state is not None:
            if state not in OutboundStatus.values:
                errors["status"] = [f"one of: {', '.join(OutboundStatus.values)}"]
            rows = rows.filter(status=state)
        if errors:
            return Response(errors, status=status.HTTP_400_BAD_REQUEST)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(OutboundMessageSerializer(page, many=True).data)

    @extend_schema(
        operation_id="messages_send",
        description="Queue a message to `chat_id` or `phone`: 202 with the outbox row; sent after commit by a "
        "worker. A repeated `Idempotency-Key` returns the first request's row.",
        request=MessageSendSerializer,
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=False)],
        responses={
            202: OpenApiResponse(OutboundMessageSerializer, description="queued (or the row of an earlier request)"),
            409: OpenApiResponse(ConflictSerializer, description="the Idempotency-Key was used for another message"),
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        body = MessageSendSerializer(data=request.data, context={"idempotency_header": idempotency_header(request)})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            row = outbound_request(
                chat_id=data["chat_id"],
                text=data["text"],
                idempotency_key=api_idempotency_key(user_id=request.user.pk, key=data["idempotency_key"]),
            )
        except IdempotencyConflict as exc:
            return Response({"detail": str(exc), "reason": "idempotency_conflict"}, status=status.HTTP_409_CONFLICT)
        return Response(OutboundMessageSerializer(row).data, status=status.HTTP_202_ACCEPTED)


class MessageDetailView(NeverCacheMixin, GenericAPIView):
    """One outbox row: status, Green API's idMessage, attempts, the last error, the times."""

    queryset = OutboundMessage.objects.all()
    serializer_class = OutboundMessageSerializer
    permission_classes = [ModelPermissions]

    @extend_schema(
        operation_id="messages_retrieve", responses={200: OutboundMessageSerializer, 404: NOT_FOUND, **ERRORS}
    )
    def get(self, request: Request, message_id: str) -> Response:
        row = _row_or_none(message_id)
        if row is None:
            return Response({"detail": f"no outbound message {message_id[:40]!r}"}, status=status.HTTP_404_NOT_FOUND)
        return Response(OutboundMessageSerializer(row).data)


def _row_or_none(message_id: str) -> OutboundMessage | None:
    pk = pk_from_path(message_id)
    return OutboundMessage.objects.filter(pk=pk).first() if pk is not None else None
