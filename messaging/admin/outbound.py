"""The outbox in the admin: read-only rows, and two operator actions behind their own permissions.

*Resend* puts ``failed`` rows back in the queue; *Reconcile* settles rows whose outcome is
unknown (and ``sending`` rows whose worker is surely gone) from Green API's own records,
sending again only what is surely absent. Each action opens a confirmation page that says
how many of the selected rows it applies to and carries the explicit id snapshot; the POST
acts on exactly those ids, reports counts and leaves an audit record per row. The work is
done by the outbox services, the same ones the dead letter replay and the sweeper use.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from messaging.admin.common import ChatFilter, ReadOnlyAdmin, chat_link, outbound_badge, pre, short
from messaging.admin.events import CONVERSATION_PERMS, ChatSearchMixin
from messaging.models import OutboundMessage, OutboundStatus
from messaging.selectors import outbound_reconcilable_q
from messaging.services.outbound_ops import OperatorOutcome, outbound_messages_reconcile, outbound_messages_resend
from reliability.redaction import redact_text

CHANNEL = "admin"
# One confirmation page carries at most this many ids: each row is one service call.
MAX_SNAPSHOT = 500
LISTED_ROWS = 100


@dataclass(frozen=True)
class _Action:
    name: str
    verb: str
    perm: str
    applies_to: str
    eligible: Callable[[], Q]
    run: Callable[..., list[OperatorOutcome]]


ACTIONS = {
    "resend": _Action(
        name="resend",
        verb="Resend",
        perm="messaging.resend_outboundmessage",
        applies_to="failed rows",
        eligible=lambda: Q(status=OutboundStatus.FAILED),
        run=outbound_messages_resend,
    ),
    "reconcile": _Action(
        name="reconcile",
        verb="Reconcile",
        perm="messaging.reconcile_outboundmessage",
        applies_to="rows of unknown outcome, and rows stuck sending after their worker was lost",
        eligible=outbound_reconcilable_q,
        run=outbound_messages_reconcile,
    ),
}


class ReasonForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="Optional; kept in the audit trail.",
    )


@admin.register(OutboundMessage)
class OutboundMessageAdmin(ChatSearchMixin, ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "chat",
        "text_short",
        "status_badge",
        "attempts",
        "trigger",
    )
    list_filter = ("status", ChatFilter, "trigger")
    list_select_related = ("trigger",)
    ordering = ("-id",)
    actions = ("resend_selected", "reconcile_selected")
    fieldsets = (
        (None, {"fields": ("id", "chat", "text", "status_badge", "id_message", "attempts", "error_full")}),
        ("Caused by", {"fields": ("inbound_link", "trigger_link", "idempotency_key")}),
        (
            "Times",
            {
                "fields": (
                    "created_at",
                    "queued_at",
                    "next_attempt_at",
                    "sending_at",
                    "sent_at",
                    "delivered_at",
                    "read_at",
                    "failed_at",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = tuple(field for _, options in fieldsets for field in options["fields"])

    # --- columns and fields --------------------------------------------------------------

    @admin.display(description="chat", ordering="chat_id")
    def chat(self, obj: OutboundMessage) -> str:
        return chat_link(obj.chat_id)

    @admin.display(description="text (and last error)")
    def text_short(self, obj: OutboundMessage) -> str:
        if not obj.last_error:
            return short(obj.text)
        return format_html(
            '{}<div class="outbound-error" style="color:var(--error-fg,#ba2121);font-size:11px">{}</div>',
            short(obj.text),
            short(redact_text(obj.last_error), 80),
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: OutboundMessage) -> str:
        return outbound_badge(obj.status)

    @admin.display(description="last error")
    def error_full(self, obj: OutboundMessage) -> str:
        return pre(redact_text(obj.last_error)) if obj.last_error else "-"

    @admin.display(description="inbound message")
    def inbound_link(self, obj: OutboundMessage) -> str:
        if obj.inbound_id is None:
            return "-"
        url = reverse("admin:messaging_webhookevent_change", args=[obj.inbound_id])
        return format_html('<a href="{}">#{}</a>', url, obj.inbound_id)

    @admin.display(description="trigger")
    def trigger_link(self, obj: OutboundMessage) -> str:
        if obj.trigger_id is None:
            return "-"
        url = reverse("admin:messaging_trigger_change", args=[obj.trigger_id])
        return format_html('<a href="{}">{}</a>', url, obj.trigger)

    # --- permissions of the actions --------------------------------------------------------

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ACTIONS["resend"].perm)

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ACTIONS["reconcile"].perm)

    @admin.action(permissions=["resend"], description="Resend selected failed messages…")
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> HttpResponse | None:
        return self._confirm_selection(request, queryset, ACTIONS["resend"])

    @admin.action(permissions=["reconcile"], description="Reconcile selected messages of unknown outcome…")
    def reconcile_selected(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> HttpResponse | None:
        return self._confirm_selection(request, queryset, ACTIONS["reconcile"])

    # --- pages -------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        confirm = path(
            "confirm/<str:action>/",
            self.admin_site.admin_view(self.confirm_view),
            name="messaging_outboundmessage_confirm",
        )
        return [confirm, *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        row = OutboundMessage.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        context = dict(extra_context or {})
        if row is not None:
            tools = []
            if request.user.has_perms(CONVERSATION_PERMS):
                tools.append(("Conversation", reverse("admin:messaging_conversation", args=[row.chat_id])))
            for action in ACTIONS.values():
                eligible = OutboundMessage.objects.filter(action.eligible(), pk=row.pk).exists()
                if eligible and request.user.has_perm(action.perm):
                    tools.append((f"{action.verb}…", self._confirm_url(action, [row.pk])))
            context["outbound_tools"] = tools
        return super().change_view(request, object_id, form_url, extra_context=context)

    def _confirm_url(self, action: _Action, ids: list[int]) -> str:
        url = reverse("admin:messaging_outboundmessage_confirm", kwargs={"action": action.name})
        return f"{url}?{urlencode({'ids': ','.join(map(str, ids))})}"

    def _confirm_selection(
        self, request: HttpRequest, queryset: QuerySet[OutboundMessage], action: _Action
    ) -> HttpResponse | None:
        ids = list(queryset.order_by("id").values_list("id", flat=True)[: MAX_SNAPSHOT + 1])
        if len(ids) > MAX_SNAPSHOT:
            self.message_user(request, f"More than {MAX_SNAPSHOT} rows selected: narrow the filter.", messages.ERROR)
            return None
        return self._render_confirmation(request, action, ids, ReasonForm())

    def confirm_view(self, request: HttpRequest, action: str) -> HttpResponse:
        """GET (or the action's POST): what will happen to how many rows. POST with ``_confirm``: do it."""
        spec = ACTIONS.get(action)
        if spec is None:
            raise Http404(f"no outbound message action {action!r}")
        if not request.user.has_perm(spec.perm):
            raise PermissionDenied(f"{spec.verb} needs the permission {spec.perm}")
        source = request.POST if request.method == "POST" else request.GET
        try:
            ids = _parse_ids(source)
        except ValueError as exc:
            return HttpResponseBadRequest(str(exc))
        if len(ids) > MAX_SNAPSHOT:
            return HttpResponseBadRequest(f"more than {MAX_SNAPSHOT} rows at once: narrow the selection")
        changelist = reverse("admin:messaging_outboundmessage_changelist")
        if not ids:
            self.message_user(request, "No outbound message was selected.", messages.WARNING)
            return HttpResponseRedirect(changelist)
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and "_confirm" in request.POST and form.is_valid():
            self._act(request, spec, ids, form.cleaned_data["reason"])
            if len(ids) == 1:
                return HttpResponseRedirect(reverse("admin:messaging_outboundmessage_change", args=[ids[0]]))
            return HttpResponseRedirect(changelist)
        return self._render_confirmation(request, spec, ids, form)

    def _act(self, request: HttpRequest, spec: _Action, ids: list[int], reason: str) -> None:
        outcomes = spec.run(outbound_ids=ids, actor=request.user, channel=CHANNEL, reason=reason)
        done = sum(outcome.done for outcome in outcomes)
        by_detail = Counter(outcome.detail for outcome in outcomes)
        breakdown = "; ".join(f"{count} {detail}" for detail, count in by_detail.most_common())
        self.message_user(
            request,
            f"{spec.verb}: {done} of {len(ids)} selected ({breakdown}).",
            messages.SUCCESS if done == len(ids) else messages.WARNING,
        )

    def _render_confirmation(
        self, request: HttpRequest, spec: _Action, ids: list[int], form: ReasonForm
    ) -> TemplateResponse:
        rows = list(OutboundMessage.objects.filter(id__in=ids).select_related("trigger").order_by("id"))
        eligible = set(OutboundMessage.objects.filter(spec.eligible(), id__in=ids).values_list("id", flat=True))
        found = {row.pk for row in rows}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{spec.verb} {len(eligible)} outbound message{'s' if len(eligible) != 1 else ''}?",
            "action": spec,
            "ids": ids,
            "count": len(ids),
            "eligible_count": len(eligible),
            "skipped_count": len(ids) - len(eligible),
            "rows": [(row, row.pk in eligible) for row in rows[:LISTED_ROWS]],
            "more": max(len(rows) - LISTED_ROWS, 0),
            "missing": [i for i in ids if i not in found],
            "form": form,
            "form_url": reverse("admin:messaging_outboundmessage_confirm", kwargs={"action": spec.name}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/messaging/outboundmessage/confirm_action.html", context)


def _parse_ids(source: Any) -> list[int]:
    """The explicit id snapshot: repeated ``ids`` inputs, one comma-separated ``ids``, or the action's
    ``_selected_action`` checkboxes."""
    values = source.getlist("ids") or source.getlist(admin.helpers.ACTION_CHECKBOX_NAME)
    raw = [part.strip() for value in values for part in value.split(",") if part.strip()]
    if not all(part.isascii() and part.isdigit() and len(part) <= 18 for part in raw):
        raise ValueError("ids must be integers")
    return list(dict.fromkeys(int(part) for part in raw))
