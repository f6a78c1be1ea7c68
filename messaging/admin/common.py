"""Pieces the messaging admin screens share: chat links, status badges, the chat filter."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from messaging.models import OutboundStatus
from messaging.selectors import chats_recent
from reliability.admin.read_only import ReadOnlyAdminMixin
from reliability.redaction import redact

OUTBOUND_COLOURS = {
    OutboundStatus.QUEUED: "#616161",
    OutboundStatus.SENDING: "#1565c0",
    OutboundStatus.UNKNOWN: "#ef6c00",
    OutboundStatus.SENT: "#00838f",
    OutboundStatus.DELIVERED: "#2e7d32",
    OutboundStatus.READ: "#1b5e20",
    OutboundStatus.FAILED: "#c62828",
}
SENTIMENT_COLOURS = {"positive": "#2e7d32", "neutral": "#616161", "negative": "#c62828"}


def badge(text: str, colour: str, *, css: str = "") -> str:
    return format_html(
        '<span class="msg-badge {}" style="background:{};color:#fff;padding:1px 7px;border-radius:8px;'
        'white-space:nowrap;font-size:11px">{}</span>',
        css,
        colour,
        text,
    )


def outbound_badge(status: str) -> str:
    label = OutboundStatus(status).label if status in OutboundStatus.values else status
    return badge(label, OUTBOUND_COLOURS.get(status, "#616161"), css=f"status-{status}")


def sentiment_badges(result: Any) -> str:
    """Label (coloured), score, source, and a degraded badge when the fallback answered."""
    parts = [
        badge(result.label, SENTIMENT_COLOURS.get(result.label, "#616161"), css=f"sentiment-{result.label}"),
        format_html(' <span class="sentiment-score">{}</span>', f"{result.score:+.2f}"),
        format_html(' <span class="sentiment-source">{}</span>', result.get_source_display()),
    ]
    if result.degraded:
        parts.append(format_html(" {}", badge("degraded", "#ef6c00", css="sentiment-degraded")))
    return format_html("{}" * len(parts), *parts)


def conversation_url(chat_id: str) -> str:
    return reverse("admin:messaging_conversation", kwargs={"chat_id": chat_id})


def chat_link(chat_id: str) -> str:
    """The chat id linking to its conversation page."""
    if not chat_id:
        return "-"
    return format_html('<a href="{}" title="conversation">{}</a>', conversation_url(chat_id), chat_id)


def short(text: str, chars: int = 60) -> str:
    return Truncator(text).chars(chars)


def pre(text: str) -> str:
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


def json_pretty(value: Any) -> str:
    """``value`` redacted and indented, for a detail page."""
    return pre(json.dumps(redact(value), indent=2, sort_keys=True, ensure_ascii=False))


class ChatFilter(admin.SimpleListFilter):
    """The chats of the latest messages by name; any ``chat=`` in the URL filters too."""

    title = "chat"
    parameter_name = "chat"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        chats = chats_recent(limit=10)
        current = self.value()
        if current and current not in chats:
            chats.append(current)
        return [(chat_id, chat_id) for chat_id in chats]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(chat_id=self.value()) if self.value() else queryset


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rows written by the pipeline only: looked at here, never added, edited or deleted."""

    show_full_result_count = False
    list_per_page = 50
