"""``POST /api/v1/sentiment/``: the sentiment of a text, now.

DeepSeek answers when the degradation level allows AI sentiment (``ai_sentiment``) and its
breaker admits the call; otherwise (from minor on, breaker open, timeout, an error answer)
the local lexicon does, and the answer says ``"degraded": true``. Either
way the caller gets a 200: a failing DeepSeek is never this endpoint's error.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.parsers import StrictJSONParser
from messaging.api.base import NeverCacheMixin
from messaging.api.fields import MessageTextField
from messaging.api.permissions import has_perms
from messaging.api.schema import ERRORS
from messaging.models import SentimentLabel, SentimentSource
from messaging.sentiment import sentiment_analyze
from reliability.degradation.gates import allows


class SentimentRequestSerializer(serializers.Serializer):
    text = MessageTextField()


class SentimentSerializer(serializers.Serializer):
    label = serializers.ChoiceField(choices=SentimentLabel.values)
    score = serializers.FloatField(help_text="-1.0 (most negative) .. 1.0 (most positive)")
    source = serializers.ChoiceField(choices=SentimentSource.values)
    model = serializers.CharField(help_text="the DeepSeek model, or the fallback's name")
    latency_ms = serializers.FloatField()
    degraded = serializers.BooleanField(help_text="true when the local fallback answered instead of DeepSeek")


class SentimentView(NeverCacheMixin, APIView):
    # Reading a text's sentiment, stored nowhere: the permission to read sentiment results.
    permission_classes = [has_perms("messaging.view_sentimentresult")]
    parser_classes = [StrictJSONParser]

    @extend_schema(
        operation_id="sentiment_analyze",
        request=SentimentRequestSerializer,
        responses={200: SentimentSerializer, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = SentimentRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = sentiment_analyze(text=body.validated_data["text"], allow_ai=allows("ai_sentiment"))
        return Response(SentimentSerializer(outcome).data)
