"""Sentiment results and instance state events: read-only lists of what the pipeline recorded."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from messaging.admin.common import ReadOnlyAdmin, chat_link, json_pretty, sentiment_badges, short
from messaging.models import InstanceStateEvent, SentimentResult


@admin.register(SentimentResult)
class SentimentResultAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "inbound_link", "chat", "text_short", "badges", "model", "latency")
    list_filter = ("label", "source", "degraded")
    list_select_related = ("inbound",)
    search_fields = ("inbound__chat_id__exact",)
    search_help_text = "Exact chat id."
    ordering = ("-id",)
    fields = (
        "inbound_link",
        "chat",
        "text_full",
        "badges",
        "label",
        "score",
        "source",
        "model",
        "latency",
        "degraded",
        "error_class",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="inbound")
    def inbound_link(self, obj: SentimentResult) -> str:
        url = reverse("admin:messaging_webhookevent_change", args=[obj.inbound_id])
        return format_html('<a href="{}">#{}</a>', url, obj.inbound_id)

    @admin.display(description="chat")
    def chat(self, obj: SentimentResult) -> str:
        return chat_link(obj.inbound.chat_id)

    @admin.display(description="text")
    def text_short(self, obj: SentimentResult) -> str:
        return short(obj.inbound.text)

    @admin.display(description="text")
    def text_full(self, obj: SentimentResult) -> str:
        return obj.inbound.text

    @admin.display(description="sentiment")
    def badges(self, obj: SentimentResult) -> str:
        return sentiment_badges(obj)

    @admin.display(description="latency", ordering="latency_ms")
    def latency(self, obj: SentimentResult) -> str:
        return f"{obj.latency_ms:.0f} ms"


@admin.register(InstanceStateEvent)
class InstanceStateEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "occurred_at", "kind", "state", "event_link")
    list_filter = ("kind", "state")
    ordering = ("-occurred_at", "-id")
    fields = ("kind", "state", "occurred_at", "event_link", "detail_pretty")
    readonly_fields = fields

    @admin.display(description="webhook event")
    def event_link(self, obj: InstanceStateEvent) -> str:
        url = reverse("admin:messaging_webhookevent_change", args=[obj.event_id])
        return format_html('<a href="{}">#{}</a>', url, obj.event_id)

    @admin.display(description="detail")
    def detail_pretty(self, obj: InstanceStateEvent) -> str:
        return json_pretty(obj.detail)
