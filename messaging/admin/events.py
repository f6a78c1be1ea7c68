"""Webhook events in the admin (read-only), and the conversation page of a chat.

The conversation page is a custom admin view: it is wrapped in ``admin_view`` (login,
staff) and checks both view permissions itself, since it shows inbound events and
outbound messages together.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html_join
from django.utils.http import urlencode

from messaging.admin.common import (
    ChatFilter,
    ReadOnlyAdmin,
    chat_link,
    conversation_url,
    json_pretty,
    outbound_badge,
    sentiment_badges,
    short,
)
from messaging.models import WebhookEvent, WebhookType
from messaging.selectors import conversation_page

CONVERSATION_PAGE_SIZE = 100
CONVERSATION_PERMS = ("messaging.view_webhookevent", "messaging.view_outboundmessage")


class TypeFilter(admin.SimpleListFilter):
    """Green API's documented event types (a fixed list: no DISTINCT over the whole table)."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(WebhookType.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(type_webhook=self.value()) if self.value() else queryset


class ChatSearchMixin:
    """Search by exact chat id or message id; a bare phone number finds its personal chat."""

    search_fields = ("chat_id__exact", "id_message__exact")
    search_help_text = "Exact chat id (or phone number) or idMessage."

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        term = search_term.strip().removeprefix("+")
        if term.isascii() and term.isdigit():
            return queryset.filter(chat_id=f"{term}@c.us"), False
        return super().get_search_results(request, queryset, search_term.strip())  # type: ignore[misc]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ChatSearchMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "received_at",
        "type_webhook",
        "chat",
        "sender_name",
        "text_short",
        "message_status",
        "processing_status",
    )
    list_filter = (TypeFilter, "processing_status", ChatFilter, "received_via")
    ordering = ("-id",)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "type_webhook",
                    "chat",
                    "sender",
                    "sender_name",
                    "id_message",
                    "type_message",
                    "text",
                    "message_status",
                    "occurred_at",
                    "received_at",
                    "received_via",
                )
            },
        ),
        ("Processing", {"fields": ("processing_status", "processing_error", "processed_at", "sentiment_display")}),
        ("Replies", {"fields": ("replies_display",)}),
        ("Raw event (secrets redacted)", {"fields": ("payload_pretty",)}),
    )
    readonly_fields = tuple(field for _, options in fieldsets for field in options["fields"])

    @admin.display(description="chat", ordering="chat_id")
    def chat(self, obj: WebhookEvent) -> str:
        return chat_link(obj.chat_id)

    @admin.display(description="text")
    def text_short(self, obj: WebhookEvent) -> str:
        return short(obj.text)

    @admin.display(description="sentiment")
    def sentiment_display(self, obj: WebhookEvent) -> str:
        result = getattr(obj, "sentiment", None)
        if result is None:
            return "-"
        return sentiment_badges(result)

    @admin.display(description="replies")
    def replies_display(self, obj: WebhookEvent) -> str:
        rows = list(obj.replies.select_related("trigger").order_by("id"))
        if not rows:
            return "-"
        return format_html_join(
            "",
            '<div><a href="{}">#{}</a> {} {}</div>',
            (
                (
                    reverse("admin:messaging_outboundmessage_change", args=[row.pk]),
                    row.pk,
                    outbound_badge(row.status),
                    f"trigger {row.trigger.name}" if row.trigger else "",
                )
                for row in rows
            ),
        )

    @admin.display(description="payload")
    def payload_pretty(self, obj: WebhookEvent) -> str:
        return json_pretty(obj.payload)

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEvent]:
        return super().get_queryset(request).select_related("sentiment")

    # --- the conversation page ---------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        conversation = path(
            "conversation/<str:chat_id>/",
            self.admin_site.admin_view(self.conversation_view),
            name="messaging_conversation",
        )
        return [conversation, *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        event = WebhookEvent.objects.filter(pk=object_id).only("chat_id").first() if object_id.isdigit() else None
        context = dict(extra_context or {})
        if event is not None and event.chat_id and request.user.has_perms(CONVERSATION_PERMS):
            context["conversation_url"] = conversation_url(event.chat_id)
        return super().change_view(request, object_id, form_url, extra_context=context)

    def conversation_view(self, request: HttpRequest, chat_id: str) -> HttpResponse:
        """A chat as a person reads it: messages in time order, sentiment on the customer's, status on ours."""
        if not request.user.has_perms(CONVERSATION_PERMS):
            raise PermissionDenied(
                "the conversation page needs view permission on webhook events and outbound messages"
            )
        if len(chat_id) > 255:
            raise Http404("no such chat")
        try:
            before = _parse_before(request.GET.get("before", ""))
        except ValueError as exc:
            return HttpResponseBadRequest(str(exc))
        page = conversation_page(chat_id=chat_id, before=before, limit=CONVERSATION_PAGE_SIZE)
        if not page.entries and before is None:
            raise Http404(f"no messages in chat {chat_id!r}")
        earlier_url = None
        if page.earlier_before is not None:
            earlier_url = f"{conversation_url(chat_id)}?{urlencode({'before': page.earlier_before.isoformat()})}"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Conversation with {chat_id}",
            "chat_id": chat_id,
            "page": page,
            "earlier_url": earlier_url,
            "latest_url": conversation_url(chat_id) if before is not None else None,
            "events_url": reverse("admin:messaging_webhookevent_changelist") + "?" + urlencode({"chat": chat_id}),
            "outbound_url": reverse("admin:messaging_outboundmessage_changelist") + "?" + urlencode({"chat": chat_id}),
            "may_resend": request.user.has_perm("messaging.resend_outboundmessage"),
            "may_reconcile": request.user.has_perm("messaging.reconcile_outboundmessage"),
            "resend_url": reverse("admin:messaging_outboundmessage_confirm", kwargs={"action": "resend"}),
            "reconcile_url": reverse("admin:messaging_outboundmessage_confirm", kwargs={"action": "reconcile"}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/messaging/conversation.html", context)


def _parse_before(value: str) -> datetime | None:
    """The ``before`` cursor of an "earlier messages" link; ``ValueError`` when it is not a timestamp."""
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError("before= must be an ISO 8601 timestamp")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)
