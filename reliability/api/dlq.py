"""Ops API of the dead letter queue, at the seed's paths under ``/admin/reliability/dlq``.

Staff read the summary; replaying one letter also needs ``replay_deadletter``. Token or
session auth. The work is ``dead_letter_replay``, which writes the audit record; its
errors (unknown id 404, a state that forbids the replay 409) are answered by
``config.api.api_exception_handler``.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from reliability.api.base import OpsAPIView
from reliability.api.permissions import staff_with
from reliability.api.serializers import (
    DeadLetterConflictSerializer,
    DeadLetterReplayResultSerializer,
    DeadLetterSummarySerializer,
    ErrorSerializer,
)
from reliability.dlq.selectors import dead_letter_groups, dead_letter_summary
from reliability.dlq.services import dead_letter_replay

GROUPS_SHOWN = 20


class DeadLetterSummaryView(OpsAPIView):
    """Counts by status and by type, the backlog, the oldest waiting age, the largest groups."""

    @extend_schema(responses={200: DeadLetterSummarySerializer})
    def get(self, request: Request) -> Response:
        summary = dead_letter_summary()
        summary["groups"] = dead_letter_groups(limit=GROUPS_SHOWN)
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
