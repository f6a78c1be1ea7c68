"""Ops API of degradation, at the seed's ``/admin/reliability/degradation/set-level`` and beside it.

Staff read the status and the latest changes; setting and clearing the level needs
``set_degradation_level``. The input may come in the query string (the seed's
``?level=moderate&reason=maintenance``) or a JSON body, not both with different values.
The work is ``reliability.degradation.services``, which writes the history and the audit
record; a clear with no override in force is answered 409 by
``config.api.api_exception_handler``, bad input 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from reliability.api.base import OpsAPIView
from reliability.api.permissions import staff_with
from reliability.api.serializers import (
    DegradationClearSerializer,
    DegradationReportSerializer,
    DegradationSetLevelSerializer,
    ErrorSerializer,
)
from reliability.degradation.selectors import degradation_events_recent, degradation_status
from reliability.degradation.services import degradation_clear, degradation_set_level
from reliability.degradation.state import LevelState

EVENTS_SHOWN = 20
SET_LEVEL = "reliability.set_degradation_level"


def request_input(request: Request) -> dict[str, Any]:
    """The query string and the body as one object; a field in both must say the same."""
    body = request.data
    if not isinstance(body, Mapping):
        raise serializers.ValidationError({"detail": "the body must be a JSON object"})
    data = dict(body.items())
    for key in request.query_params:
        values = request.query_params.getlist(key)
        if len(values) > 1:
            raise serializers.ValidationError({key: ["is given more than once in the query string"]})
        if key in data and data[key] != values[0]:
            raise serializers.ValidationError({key: ["is given in the query string and the body, differently"]})
        data[key] = values[0]
    return data


def _report(state: LevelState | None = None) -> dict[str, Any]:
    return {"degradation": degradation_status(state=state), "events": degradation_events_recent(limit=EVENTS_SHOWN)}


class DegradationView(OpsAPIView):
    """The level, its source and reason, the override's expiry, the conditions seen, the
    gates, and the latest changes."""

    @extend_schema(operation_id="degradation_retrieve", responses={200: DegradationReportSerializer})
    def get(self, request: Request) -> Response:
        return Response(DegradationReportSerializer(_report()).data)


class DegradationSetLevelView(OpsAPIView):
    """Set the level by hand until ``expires_in`` (or until cleared): 400 for an unknown
    level (listing the valid ones), a missing reason or a bad expiry."""

    permission_classes = [staff_with(SET_LEVEL)]

    @extend_schema(
        operation_id="degradation_set_level",
        parameters=[
            OpenApiParameter("level", str, description="normal, minor, moderate, severe or critical"),
            OpenApiParameter("reason", str, description="why (required)"),
            OpenApiParameter("expires_in", str, description="900, 30m, 2h or 1d; omitted: until cleared"),
        ],
        request=DegradationSetLevelSerializer,
        responses={200: DegradationReportSerializer, 400: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        body = DegradationSetLevelSerializer(data=request_input(request))
        body.is_valid(raise_exception=True)
        state = degradation_set_level(**body.validated_data, actor=request.user, channel="api")
        return Response(DegradationReportSerializer(_report(state)).data)


class DegradationClearView(OpsAPIView):
    """End the override: the rules set the level again. 409 when no override is in force."""

    permission_classes = [staff_with(SET_LEVEL)]

    @extend_schema(
        operation_id="degradation_clear",
        parameters=[OpenApiParameter("reason", str, description="why (required)")],
        request=DegradationClearSerializer,
        responses={200: DegradationReportSerializer, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        body = DegradationClearSerializer(data=request_input(request))
        body.is_valid(raise_exception=True)
        state = degradation_clear(reason=body.validated_data["reason"], actor=request.user, channel="api")
        return Response(DegradationReportSerializer(_report(state)).data)
