"""Ops API of the circuit breakers, at the seed's paths under ``/admin/reliability/circuit-breakers``.

Staff read snapshots; each operator action also needs its own model permission, and
editing thresholds needs ``change_circuitbreaker``. Token or session auth. The work is
done by ``reliability.breaker.services``, which write the history and the audit record;
their errors (unknown name 404, refused action 409, invalid thresholds 400 by field)
are answered by ``config.api.api_exception_handler``.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from reliability.api.base import OpsAPIView
from reliability.api.permissions import staff_with
from reliability.api.serializers import (
    BreakerActionResultSerializer,
    BreakerListSerializer,
    BreakerSnapshotSerializer,
    BreakerThresholdsSerializer,
    ErrorSerializer,
    ReasonSerializer,
)
from reliability.breaker.selectors import breaker_snapshot
from reliability.breaker.services import breaker_update_config
from reliability.breaker_ops import BREAKER_ACTIONS, breaker_action_run, breaker_live_list


class BreakerListView(OpsAPIView):
    """Every known breaker with its live state, window figures and effective thresholds.

    A breaker whose store cannot be read is listed with state ``unknown``.
    """

    @extend_schema(operation_id="circuit_breakers_list", responses={200: BreakerListSerializer})
    def get(self, request: Request) -> Response:
        breakers = [live or {"name": name, "state": "unknown"} for name, live in breaker_live_list()]
        return Response(BreakerListSerializer({"count": len(breakers), "circuit_breakers": breakers}).data)


class BreakerDetailView(OpsAPIView):
    """GET one snapshot (staff); PATCH threshold overrides (``change_circuitbreaker``).

    PATCH takes ``{"failure_threshold": 7, "window_size": null, "reason": "..."}``: null
    or "" clears an override. An invalid value or combination answers 400 by field.
    """

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "PATCH":
            return [staff_with("reliability.change_circuitbreaker")()]
        return super().get_permissions()

    @extend_schema(
        operation_id="circuit_breaker_retrieve", responses={200: BreakerSnapshotSerializer, 404: ErrorSerializer}
    )
    def get(self, request: Request, service: str) -> Response:
        return Response(BreakerSnapshotSerializer(breaker_snapshot(name=service)).data)

    @extend_schema(
        request=BreakerThresholdsSerializer,
        responses={200: BreakerSnapshotSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def patch(self, request: Request, service: str) -> Response:
        body = BreakerThresholdsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        reason = changes.pop("reason")
        breaker_update_config(name=service, changes=changes, actor=request.user, channel="api", reason=reason)
        return Response(BreakerSnapshotSerializer(breaker_snapshot(name=service)).data)


class BreakerActionView(OpsAPIView):
    """POST an operator action (``slug``) on one breaker; the body may carry ``{"reason": ...}``.

    404 for an unknown name, 409 when the action makes no sense in the current state.
    """

    slug = ""

    def get_permissions(self) -> list[BasePermission]:
        return [staff_with(BREAKER_ACTIONS[self.slug].perm)()]

    @extend_schema(
        request=ReasonSerializer,
        responses={200: BreakerActionResultSerializer, 404: ErrorSerializer, 409: ErrorSerializer},
    )
    def post(self, request: Request, service: str) -> Response:
        body = ReasonSerializer(data=request.data if request.data else {})
        body.is_valid(raise_exception=True)
        transition = breaker_action_run(
            slug=self.slug, name=service, actor=request.user, channel="api", reason=body.validated_data["reason"]
        )
        result = {
            "name": service,
            "action": self.slug,
            "from_state": transition.from_state,
            "to_state": transition.to_state,
            "circuit_breaker": breaker_snapshot(name=service),
        }
        return Response(BreakerActionResultSerializer(result).data)
