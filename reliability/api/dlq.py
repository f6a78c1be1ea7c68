"""Ops API of the dead letter queue, at the seed's paths under ``/admin/reliability/dlq``.

Staff read the summary; replaying one letter also needs ``replay_deadletter``. Token or
session auth. The work is ``dead_letter_replay``, which writes the audit record; its
errors (unknown id 404, a state that forbids the replay 409) are answered by
``config.api.api_exception_handler``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from reliability.api.base import OpsAPIView
from reliability.api.permissions import staff_with
from reliability.api.serializers import (
    DeadLetterConflictSerializer,
    DeadLetterReplayResultSerializer,
    DeadLetterSummarySerializer,
    ErrorSerializer,
    FingerprintAmbiguousSerializer,
)
from reliability.dlq.selectors import dead_letter_fingerprint_resolve, dead_letter_groups, dead_letter_summary
from reliability.dlq.services import dead_letter_replay

GROUPS_SHOWN = 20


class DeadLetterSummaryView(OpsAPIView):
    """Counts by status and by type, the backlog, the oldest waiting age, the largest groups.

    ``?fingerprint=`` (the full fingerprint or a unique prefix of 8+ characters) narrows the
    groups to that one and names it in full: 400 for a bad or ambiguous prefix (with the
    candidates), 404 when no letter has it.
    """

    @extend_schema(
        parameters=[OpenApiParameter("fingerprint", str, description="a fingerprint or a unique prefix of it")],
        responses={200: DeadLetterSummarySerializer, 400: FingerprintAmbiguousSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        fingerprint = None
        if "fingerprint" in request.query_params:
            fingerprint = dead_letter_fingerprint_resolve(prefix=request.query_params["fingerprint"])
        summary = dead_letter_summary()
        summary["groups"] = dead_letter_groups(fingerprint=fingerprint, limit=GROUPS_SHOWN)
        summary["fingerprint"] = fingerprint
        return Response(DeadLetterSummarySerializer(summary).data)


class DeadLetterRetryView(OpsAPIView):
    """Replay one letter now: 404 for an unknown id, 409 when its state forbids a replay."""

    permission_classes = [staff_with("reliability.replay_deadletter")]

    @extend_schema(
        request=None,
        responses={200: DeadLetterReplayResultSerializer, 404: ErrorSerializer, 409: DeadLetterConflictSerializer},
    )
    def post(self, request: Request, message_id: str) -> Response:
        result = dead_letter_replay(letter_id=message_id, actor=request.user, channel="api")
        return Response(DeadLetterReplayResultSerializer(result).data)
