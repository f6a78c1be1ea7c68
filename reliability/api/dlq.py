"""Ops API of the dead letter queue, at the seed's paths under ``/admin/reliability/dlq``.

Staff read the summary; replaying one letter also needs ``replay_deadletter``. Token or
session auth. The work is ``dead_letter_replay``, which writes the audit record.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from reliability.api.permissions import IsStaff, staff_with
from reliability.dlq.exceptions import (
    DeadLetterNotFound,
    DeadLetterStateError,
    FingerprintAmbiguous,
    FingerprintNotFound,
    FingerprintPrefixInvalid,
)
from reliability.dlq.selectors import dead_letter_fingerprint_resolve, dead_letter_groups, dead_letter_summary
from reliability.dlq.services import dead_letter_replay

GROUPS_SHOWN = 20


class DeadLetterSummaryView(APIView):
    """Counts by status and by type, the backlog, the oldest waiting age, the largest groups.

    ``?fingerprint=`` (the full fingerprint or a unique prefix of 8+ characters) narrows the
    groups to that one and names it in full: 400 for a bad or ambiguous prefix (with the
    candidates), 404 when no letter has it.
    """

    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[OpenApiParameter("fingerprint", str, description="a fingerprint or a unique prefix of it")],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        fingerprint = None
        if "fingerprint" in request.query_params:
            try:
                fingerprint = dead_letter_fingerprint_resolve(prefix=request.query_params["fingerprint"])
            except FingerprintPrefixInvalid as exc:
                return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
            except FingerprintAmbiguous as exc:
                candidates = [{"fingerprint": short, "count": count} for short, count in exc.candidates]
                return Response({"detail": str(exc), "candidates": candidates}, status=status.HTTP_400_BAD_REQUEST)
            except FingerprintNotFound as exc:
                return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        summary = dead_letter_summary()
        summary["groups"] = dead_letter_groups(fingerprint=fingerprint, limit=GROUPS_SHOWN)
        if fingerprint is not None:
            summary["fingerprint"] = fingerprint
        return Response(summary)


class DeadLetterRetryView(APIView):
    """Replay one letter now: 404 for an unknown id, 409 when its state forbids a replay."""

    permission_classes = [staff_with("reliability.replay_deadletter")]

    @extend_schema(
        request=None, responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT}
    )
    def post(self, request: Request, message_id: str) -> Response:
        try:
            result = dead_letter_replay(letter_id=message_id, actor=request.user, channel="api")
        except DeadLetterNotFound as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        except DeadLetterStateError as exc:
            return Response({"detail": str(exc), "status": exc.status}, status=status.HTTP_409_CONFLICT)
        return Response(
            {
                "id": result.letter_id,
                "outcome": result.outcome,
                "resolved": result.resolved,
                "status": result.status,
                "next_retry_at": result.next_retry_at,
                "error_class": result.error_class,
                "error_message": result.error_message,
            }
        )
