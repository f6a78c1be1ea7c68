"""``/api/v1/triggers/``: trigger CRUD, and ``POST /{id}/execute/`` to send a trigger's reply now.

Types are checked here (a string is a string); every rule about what makes a trigger
valid (regex, placeholders, labels, chat ids, at least one condition, a unique name) is
``Trigger.full_clean`` and ``trigger_validate``, through ``messaging.services.trigger_ops``,
so a 400 names the same field with the same message as the admin form.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from config.parsers import StrictJSONParser
from messaging.api.base import NeverCacheMixin
from messaging.api.fields import (
    INT_MAX,
    RawListField,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    pk_from_path,
)
from messaging.api.messages import (
    IDEMPOTENCY_HEADER,
    IdempotentSerializer,
    OutboundMessageSerializer,
    RecipientSerializer,
    idempotency_header,
)
from messaging.api.permissions import ModelPermissions, has_perms
from messaging.api.schema import ERRORS, NOT_FOUND, ConflictSerializer
from messaging.models import SentimentLabel, Trigger
from messaging.services.outbound_ops import IdempotencyConflict, api_idempotency_key
from messaging.services.trigger_ops import TriggerRefused, trigger_create, trigger_execute, trigger_update
from messaging.services.triggers import PLACEHOLDERS


def _drf_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    return serializers.ValidationError(
        {api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field: m for field, m in errors.items()}
    )


@extend_schema_field({"type": "array", "items": {"type": "string", "enum": SentimentLabel.values}})
class LabelListField(RawListField):
    pass


class TriggerSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = StrictCharField(max_length=100)
    enabled = StrictBooleanField(default=True)
    keywords = RawListField(default=list, help_text="any of them as a whole word, case-insensitive")
    regex = StrictCharField(
        default="", allow_blank=True, trim_whitespace=False, help_text="RE2 syntax; empty: no regex condition"
    )
    sentiment_labels = LabelListField(default=list, help_text="the message's label is one of these")
    chat_ids = RawListField(default=list, help_text="only these chats; empty: every chat")
    reply_template = StrictCharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text="placeholders: " + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS),
    )
    cooldown_seconds = StrictIntegerField(default=0, min_value=0, max_value=INT_MAX)
    priority = StrictIntegerField(default=0, min_value=-INT_MAX - 1, max_value=INT_MAX)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def create(self, validated_data: dict[str, Any]) -> Trigger:
        try:
            return trigger_create(values=validated_data)
        except DjangoValidationError as exc:
            raise _drf_errors(exc) from None

    def update(self, instance: Trigger, validated_data: dict[str, Any]) -> Trigger:
        try:
            return trigger_update(trigger=instance, changes=validated_data)
        except DjangoValidationError as exc:
            raise _drf_errors(exc) from None


class TriggerExecuteSerializer(IdempotentSerializer, RecipientSerializer):
    text = StrictCharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=20_000,
        trim_whitespace=False,
        help_text="sample inbound text for {text}",
    )
    sender_name = StrictCharField(
        required=False, default="", allow_blank=True, max_length=255, help_text="for {sender_name}"
    )
    sentiment = serializers.ChoiceField(
        choices=SentimentLabel.values, required=False, default="", help_text="for {sentiment}"
    )
    force = StrictBooleanField(required=False, default=False, help_text="send even within the trigger's cooldown")


class TriggerPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema_view(
    list=extend_schema(responses={200: TriggerSerializer(many=True), **ERRORS}),
    retrieve=extend_schema(responses={200: TriggerSerializer, 404: NOT_FOUND, **ERRORS}),
    create=extend_schema(responses={201: TriggerSerializer, **ERRORS}),
    update=extend_schema(responses={200: TriggerSerializer, 404: NOT_FOUND, **ERRORS}),
    partial_update=extend_schema(responses={200: TriggerSerializer, 404: NOT_FOUND, **ERRORS}),
    destroy=extend_schema(responses={204: None, 404: NOT_FOUND, **ERRORS}),
)
class TriggerViewSet(
    NeverCacheMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Triggers, highest priority first. ``?enabled=true|false`` filters the list."""

    serializer_class = TriggerSerializer
    permission_classes = [ModelPermissions]
    parser_classes = [StrictJSONParser]
    pagination_class = TriggerPagination
    # Any segment: get_object answers a JSON 404 for what is not an id (the router's default
    # pattern would leave "1.5" to the site's HTML 404).
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[Trigger]:
        triggers = Trigger.objects.order_by("-priority", "id")
        if self.action == "list":
            enabled = self.request.query_params.get("enabled")
            if enabled is not None:
                if enabled not in ("true", "false"):
                    raise serializers.ValidationError({"enabled": ["true or false"]})
                triggers = triggers.filter(enabled=enabled == "true")
        return triggers

    def get_object(self) -> Trigger:
        if pk_from_path(self.kwargs["pk"]) is None:
            raise Http404("no such trigger")
        return super().get_object()

    def get_permissions(self) -> list[BasePermission]:
        if self.action == "execute":
            return [has_perms("messaging.execute_trigger")()]
        return super().get_permissions()

    @extend_schema(
        operation_id="triggers_execute",
        request=TriggerExecuteSerializer,
        parameters=[OpenApiParameter(IDEMPOTENCY_HEADER, str, OpenApiParameter.HEADER, required=False)],
        responses={
            202: OpenApiResponse(OutboundMessageSerializer, description="the reply, queued in the outbox"),
            404: NOT_FOUND,
            409: OpenApiResponse(
                ConflictSerializer,
                description="`disabled`, `cooldown` (with `next_allowed_at`) or `idempotency_conflict`",
            ),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"])
    def execute(self, request: Request, pk: str) -> Response:
        """Render the trigger's template for a chat and queue the reply; 409 when disabled or cooling down."""
        trigger = self.get_object()
        body = TriggerExecuteSerializer(data=request.data, context={"idempotency_header": idempotency_header(request)})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            row = trigger_execute(
                trigger_id=trigger.pk,
                chat_id=data["chat_id"],
                text=data["text"],
                sender_name=data["sender_name"],
                sentiment=data["sentiment"],
                force=data["force"],
                idempotency_key=api_idempotency_key(user_id=request.user.pk, key=data["idempotency_key"]),
            )
        except Trigger.DoesNotExist:
            raise Http404("no such trigger") from None
        except TriggerRefused as exc:
            conflict: dict[str, Any] = {"detail": exc.message, "reason": exc.reason}
            if exc.next_allowed_at is not None:
                conflict["next_allowed_at"] = exc.next_allowed_at
            return Response(conflict, status=status.HTTP_409_CONFLICT)
        except IdempotencyConflict as exc:
            return Response({"detail": str(exc), "reason": "idempotency_conflict"}, status=status.HTTP_409_CONFLICT)
        except DjangoValidationError as exc:
            raise _drf_errors(exc) from None
        return Response(OutboundMessageSerializer(row).data, status=status.HTTP_202_ACCEPTED)
