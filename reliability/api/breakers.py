"""Ops API of the circuit breakers, at the seed's paths under ``/admin/reliability/circuit-breakers``.

Staff read snapshots; each operator action also needs its own model permission, and
editing thresholds needs ``change_circuitbreaker``. Token or session auth. The work is
done by ``reliability.breaker.services``, which write the history and the audit record.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reliability.api.permissions import IsStaff, staff_with
from reliability.breaker.selectors import UnknownBreaker, breaker_snapshot
from reliability.breaker.services import BreakerActionRefused, breaker_update_config
from reliability.breaker_ops import BREAKER_ACTIONS, breaker_action_run, breaker_live_list


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")


def _not_found(exc: UnknownBreaker) -> Response:
    return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)


class BreakerListView(APIView):
    """Every known breaker with its live state, window figures and effective thresholds.

    A breaker whose store cannot be read is listed with state ``unknown``.
    """

    permission_classes = [IsStaff]

    @extend_schema(operation_id="circuit_breakers_list", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        breakers = [live or {"name": name, "state": "unknown"} for name, live in breaker_live_list()]
        return Response({"count": len(breakers), "circuit_breakers": breakers})


class BreakerDetailView(APIView):
    """GET one snapshot (staff); PATCH threshold overrides (``change_circuitbreaker``).

    PATCH takes ``{"failure_threshold": 7, "window_size": null, "reason": "..."}``: null
    or "" clears an override. An invalid value or combination answers 400 by field.
    """

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "PATCH":
            return [staff_with("reliability.change_circuitbreaker")()]
        return [IsStaff()]

    @extend_schema(
        operation_id="circuit_breaker_retrieve", responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT}
    )
    def get(self, request: Request, service: str) -> Response:
        try:
            return Response(breaker_snapshot(name=service))
        except UnknownBreaker as exc:
            return _not_found(exc)

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
    )
    def patch(self, request: Request, service: str) -> Response:
        if not isinstance(request.data, dict):
            return Response({"detail": "expected a JSON object of thresholds"}, status=status.HTTP_400_BAD_REQUEST)
        changes: dict[str, Any] = dict(request.data)
        reason = changes.pop("reason", "")
        if not isinstance(reason, str):
            return Response({"reason": ["must be a string"]}, status=status.HTTP_400_BAD_REQUEST)
        if not changes:
            return Response({"detail": "no threshold to change"}, status=status.HTTP_400_BAD_REQUEST)
        try:
            breaker_update_config(name=service, changes=changes, actor=request.user, channel="api", reason=reason)
        except UnknownBreaker as exc:
            return _not_found(exc)
        except ValidationError as exc:
            return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response(breaker_snapshot(name=service))


class BreakerActionView(APIView):
    """POST an operator action (``slug``) on one breaker; the body may carry ``{"reason": ...}``.

    404 for an unknown name, 409 when the action makes no sense in the current state.
    """

    slug = ""

    def get_permissions(self) -> list[BasePermission]:
        return [staff_with(BREAKER_ACTIONS[self.slug].perm)()]

    @extend_schema(
        request=ReasonSerializer,
        responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request, service: str) -> Response:
        body = ReasonSerializer(data=request.data if request.data else {})
        body.is_valid(raise_exception=True)
        try:
            transition = breaker_action_run(
                slug=self.slug, name=service, actor=request.user, channel="api", reason=body.validated_data["reason"]
            )
        except UnknownBreaker as exc:
            return _not_found(exc)
        except BreakerActionRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(
            {
                "name": service,
                "action": self.slug,
                "from_state": transition.from_state,
                "to_state": transition.to_state,
                "circuit_breaker": breaker_snapshot(name=service),
            }
        )
