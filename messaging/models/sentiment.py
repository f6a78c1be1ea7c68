"""The sentiment of an inbound message, as DeepSeek or the local fallback scored it."""

from __future__ import annotations

from django.db import models

from messaging.models.inbound import WebhookEvent


class SentimentLabel(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    NEGATIVE = "negative", "Negative"


class SentimentSource(models.TextChoices):
    DEEPSEEK = "deepseek", "DeepSeek"
    FALLBACK = "fallback", "Local fallback"


class SentimentResult(models.Model):
    inbound = models.OneToOneField(WebhookEvent, on_delete=models.CASCADE, related_name="sentiment")
    label = models.CharField(max_length=16, choices=SentimentLabel.choices)
    # -1.0 (most negative) .. 1.0 (most positive)
    score = models.FloatField()
    source = models.CharField(max_length=16, choices=SentimentSource.choices)
    model = models.CharField(max_length=100)
    latency_ms = models.FloatField()
    # True when the fallback answered instead of DeepSeek.
    degraded = models.BooleanField(default=False)
    # Why DeepSeek was not used ("" when it was), redacted.
    error_class = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["source", "created_at"], name="sentiment_source_idx")]

    def __str__(self) -> str:
        return f"{self.label} {self.score:+.2f} ({self.source})"
