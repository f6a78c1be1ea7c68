"""Ops API of the reliability report, at the seed's ``GET /admin/reliability/reports/reliability``.

Without ``since``/``until`` it answers the latest stored report (the hourly job's, cheap
to read), or, before the first one is stored, a fresh report of the last 24 hours. With
``?since=`` (``24h``, ``7d``, an ISO 8601 time) and/or ``?until=`` it builds a fresh report
of that period. A GET never stores anything. Staff only; bad input is a 400 with one line.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from reliability.api.base import OpsAPIView
from reliability.api.serializers import ErrorSerializer
from reliability.reports.models import ReliabilityReport
from reliability.reports.period import InvalidReportPeriod, report_period_parse
from reliability.reports.services import reliability_report_build


class PeriodSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    seconds = serializers.FloatField()


class BreakerReportSerializer(serializers.Serializer):
    open_seconds = serializers.FloatField(help_text="time open, half-open or forced open")
    open_ratio = serializers.FloatField()
    seconds_by_state = serializers.DictField(child=serializers.FloatField())
    transitions = serializers.IntegerField()
    opened = serializers.IntegerField(help_text="transitions to open or forced open")
    transitions_by_to_state = serializers.DictField(child=serializers.IntegerField())
    transitions_by_reason = serializers.DictField(child=serializers.IntegerField())


class DeadLetterTypeReportSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    resolved = serializers.IntegerField()
    discarded = serializers.IntegerField()
    waiting_at_end = serializers.IntegerField()


class DeadLetterReportSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    resolved = serializers.IntegerField()
    discarded = serializers.IntegerField()
    out = serializers.IntegerField()
    waiting_at_start = serializers.IntegerField()
    waiting_at_end = serializers.IntegerField()
    oldest_waiting_at_end = serializers.DateTimeField(allow_null=True)
    oldest_waiting_age_seconds = serializers.FloatField(allow_null=True)
    replay_attempts = serializers.DictField(child=serializers.IntegerField())
    by_type = serializers.DictField(child=DeadLetterTypeReportSerializer())
    note = serializers.CharField()


class DegradationReportPartSerializer(serializers.Serializer):
    seconds_by_level = serializers.DictField(child=serializers.FloatField())
    highest_level = serializers.CharField()
    changes = serializers.IntegerField()
    changes_by_source = serializers.DictField(child=serializers.IntegerField())


class ReliabilityReportSerializer(serializers.Serializer):
    period = PeriodSerializer()
    generated_at = serializers.DateTimeField()
    breakers = serializers.DictField(child=BreakerReportSerializer())
    dead_letters = DeadLetterReportSerializer()
    degradation = DegradationReportPartSerializer()
    sections = serializers.DictField(child=serializers.DictField(), help_text="what other apps add: messaging, health")


class ReliabilityReportAnswerSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=["stored", "fresh"])
    id = serializers.IntegerField(allow_null=True, help_text="the stored report's id; null for a fresh one")
    report = ReliabilityReportSerializer()


class ReliabilityReportView(OpsAPIView):
    """The latest stored report, or a fresh one of ``since``..``until``."""

    @extend_schema(
        operation_id="reliability_report_retrieve",
        parameters=[
            OpenApiParameter("since", str, description="24h, 7d, 2w (back from until; at most 366 days) or ISO 8601"),
            OpenApiParameter("until", str, description="ISO 8601; default now"),
        ],
        responses={200: ReliabilityReportAnswerSerializer, 400: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        given = {}
        for key in ("since", "until"):
            values = request.query_params.getlist(key)
            if len(values) > 1:
                raise InvalidReportPeriod(f"{key} is given more than once in the query string")
            if values:
                given[key] = values[0]
        if not given:
            stored = ReliabilityReport.objects.order_by("-period_end", "-id").first()
            if stored is not None:
                return Response({"source": "stored", "id": stored.pk, "report": stored.data})
        period = report_period_parse(**given, now=timezone.now())
        report = reliability_report_build(since=period.since, until=period.until)
        return Response({"source": "fresh", "id": None, "report": report})
