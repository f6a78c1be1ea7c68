"""Shapes of the error answers, so the OpenAPI schema documents them like the successes."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from reliability.api.serializers import ErrorSerializer


class ConflictSerializer(ErrorSerializer):
    reason = serializers.CharField(help_text="a stable word for code to branch on")


FIELD_ERRORS = OpenApiResponse(
    inline_serializer(
        "FieldErrors",
        {"field_name": serializers.ListField(child=serializers.CharField(), required=False)},
    ),
    description="Invalid input: each field with its messages (`non_field_errors`, or `detail` for a body that is not "
    "JSON, is nested too deep, holds NUL or NaN, or is over DATA_UPLOAD_MAX_MEMORY_SIZE).",
)
UNAUTHENTICATED = OpenApiResponse(ErrorSerializer, description="No or invalid `Authorization: Token <key>`.")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Authenticated, but without the permission this needs.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such id.")
ERRORS = {400: FIELD_ERRORS, 401: UNAUTHENTICATED, 403: FORBIDDEN}
