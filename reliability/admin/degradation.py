"""Degradation in the admin: the live level and what it comes from, the history, and the
operator's *Set level* and *Clear override* pages (permission ``set_degradation_level``).

The state page shows what every process obeys (the shared store), not the row as last
saved. Both operator pages confirm before acting, and both go through
``reliability.degradation.services``, so the history and the audit trail are the same as
from the ops API or the command.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from reliability.admin.read_only import ReadOnlyAdminMixin
from reliability.degradation.gates import features_allowed
from reliability.degradation.levels import (
    DegradationLevel,
    InvalidDuration,
    UnknownLevel,
    duration_parse,
    level_parse,
)
from reliability.degradation.models import STATE_PK, DegradationEvent, DegradationState
from reliability.degradation.selectors import DegradationStatus, degradation_events_recent, degradation_status
from reliability.degradation.services import (
    REASON_MAX_LENGTH,
    DegradationActionRefused,
    degradation_clear,
    degradation_set_level,
)
from reliability.degradation.store import state_row

HISTORY_LIMIT = 50
SET_LEVEL = "reliability.set_degradation_level"
MET = {True: "holds", False: "no", None: "unknown"}


def _when(value: dt.datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else "-"


class SetLevelForm(forms.Form):
    level = forms.ChoiceField(choices=[(level.slug, level.label) for level in DegradationLevel])
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required; kept in the history and the audit trail.",
    )
    expires_in = forms.CharField(
        required=False,
        max_length=40,
        label="For",
        help_text="900, 30m, 2h or 1d (at most 30 days). Empty: until an operator clears it.",
    )

    def clean_level(self) -> DegradationLevel:
        try:
            return level_parse(self.cleaned_data["level"])
        except UnknownLevel as exc:
            raise ValidationError(str(exc)) from None

    def clean_expires_in(self) -> float | None:
        value = self.cleaned_data["expires_in"].strip()
        if not value:
            return None
        try:
            return duration_parse(value)
        except InvalidDuration as exc:
            raise ValidationError(str(exc)) from None


class ClearForm(forms.Form):
    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Required; kept in the history and the audit trail.",
    )


@admin.register(DegradationEvent)
class DegradationEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "from_level", "to_level", "source", "actor_label", "reason")
    list_filter = ("source", "to_level")
    search_fields = ("reason", "actor_label")
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = ("created_at", "from_level", "to_level", "source", "reason", "actor_label", "expires_at")
    exclude = ("actor", "conditions")


@admin.register(DegradationState)
class DegradationStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    fields = (
        "live_level",
        "live_source",
        "live_reason",
        "live_since",
        "live_expires_at",
        "live_auto_level",
        "live_conditions",
        "live_features",
        "live_evaluated_at",
    )
    readonly_fields = fields

    # --- the live state -------------------------------------------------------------------

    def _status(self, obj: DegradationState) -> DegradationStatus:
        if not hasattr(obj, "status"):
            obj.status = degradation_status()
        return obj.status

    @admin.display(description="level")
    def live_level(self, obj: DegradationState) -> str:
        status = self._status(obj)
        stale = " (stale: neither Redis nor the database answered)" if status["stale"] else ""
        read_only = " - read-only: writes are refused" if status["read_only"] else ""
        return f"{status['level']} ({status['level_value']}){read_only}{stale}"

    @admin.display(description="source")
    def live_source(self, obj: DegradationState) -> str:
        status = self._status(obj)
        return f"operator override by {status['set_by']}" if status["source"] == "operator" else "rules (automatic)"

    @admin.display(description="reason")
    def live_reason(self, obj: DegradationState) -> str:
        return self._status(obj)["reason"] or "-"

    @admin.display(description="since")
    def live_since(self, obj: DegradationState) -> str:
        return _when(self._status(obj)["since"])

    @admin.display(description="override ends")
    def live_expires_at(self, obj: DegradationState) -> str:
        status = self._status(obj)
        if status["source"] != "operator":
            return "-"
        return _when(status["expires_at"]) if status["expires_at"] else "when cleared"

    @admin.display(description="rules say")
    def live_auto_level(self, obj: DegradationState) -> str:
        status = self._status(obj)
        text = f"{status['auto_level']} ({status['auto_reason'] or '-'})"
        if status["step_down_level"] is not None:
            text += (
                f"; stepping down to {status['step_down_level']} (asked for since {_when(status['step_down_since'])})"
            )
        return text

    @admin.display(description="conditions seen")
    def live_conditions(self, obj: DegradationState) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (name, MET[seen["met"]], seen["level"], seen["detail"])
                for name, seen in self._status(obj)["conditions"].items()
            ),
        )
        return format_html(
            "<table><tr><th>condition</th><th>state</th><th>raises to</th><th>detail</th></tr>{}</table>", rows
        )

    @admin.display(description="features")
    def live_features(self, obj: DegradationState) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((name, "on" if on else "off") for name, on in self._status(obj)["features"].items()),
        )
        return format_html("<table><tr><th>feature</th><th>runs</th></tr>{}</table>", rows)

    @admin.display(description="last evaluated")
    def live_evaluated_at(self, obj: DegradationState) -> str:
        evaluated = self._status(obj)["evaluated_at"]
        return _when(evaluated) if evaluated else "never"

    # --- pages ----------------------------------------------------------------------------

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        # One state, so the list is its page.
        if not self.has_view_permission(request):
            raise PermissionDenied
        state_row()
        return HttpResponseRedirect(self._state_url())

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        extra = {
            **(extra_context or {}),
            "may_set_level": request.user.has_perm(SET_LEVEL),
            "events": degradation_events_recent(limit=HISTORY_LIMIT),
            "history_limit": HISTORY_LIMIT,
        }
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self) -> list:
        return [
            path("set-level/", self.admin_site.admin_view(self.set_level_view), name="reliability_degradation_set"),
            path("clear/", self.admin_site.admin_view(self.clear_view), name="reliability_degradation_clear"),
            *super().get_urls(),
        ]

    def _state_url(self) -> str:
        return reverse("admin:reliability_degradationstate_change", args=[STATE_PK], current_app=self.admin_site.name)

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "status": degradation_status(),
            "state_url": self._state_url(),
            **extra,
        }

    def set_level_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the form. POST: what would change, to confirm. POST confirmed: do it."""
        if not request.user.has_perm(SET_LEVEL):
            raise PermissionDenied(f"setting the degradation level needs the permission {SET_LEVEL}")
        form = SetLevelForm(request.POST if request.method == "POST" else None)
        request.current_app = self.admin_site.name
        if request.method != "POST" or not form.is_valid():
            context = self._context(request, "Set the degradation level", form=form, confirming=False)
            return TemplateResponse(request, "admin/reliability/degradationstate/set_level.html", context)
        level, reason, seconds = (form.cleaned_data[key] for key in ("level", "reason", "expires_in"))
        if request.POST.get("confirmed") != "yes":
            status = degradation_status()
            now_on, then_on = status["features"], features_allowed(level)
            context = self._context(
                request,
                f"Set the level to {level.slug}: are you sure?",
                form=form,
                confirming=True,
                target=level,
                turned_off=[name for name, on in then_on.items() if not on and now_on.get(name, False)],
                turned_on=[name for name, on in then_on.items() if on and not now_on.get(name, True)],
                duration=form.data.get("expires_in", "").strip(),
                ends_at=_when(dt.datetime.now(tz=dt.UTC) + dt.timedelta(seconds=seconds)) if seconds else None,
            )
            return TemplateResponse(request, "admin/reliability/degradationstate/set_level.html", context)
        degradation_set_level(level=level, reason=reason, expires_in=seconds, actor=request.user, channel="admin")
        until = f" for {form.data.get('expires_in', '').strip()}" if seconds else " until cleared"
        messages.success(request, f"Degradation level set to {level.slug}{until}; every process obeys within 2 s.")
        return HttpResponseRedirect(self._state_url())

    def clear_view(self, request: HttpRequest) -> HttpResponse:
        """GET: what clearing will do, with the reason field. POST: do it."""
        if not request.user.has_perm(SET_LEVEL):
            raise PermissionDenied(f"clearing the degradation level needs the permission {SET_LEVEL}")
        form = ClearForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                state = degradation_clear(reason=form.cleaned_data["reason"], actor=request.user, channel="admin")
            except DegradationActionRefused as exc:
                messages.warning(request, f"Nothing cleared: {exc}.")
            else:
                messages.success(
                    request, f"Override cleared: the rules set the level ({DegradationLevel(state.level).slug})."
                )
            return HttpResponseRedirect(self._state_url())
        request.current_app = self.admin_site.name
        context = self._context(request, "Clear the override: are you sure?", form=form)
        return TemplateResponse(request, "admin/reliability/degradationstate/clear.html", context)
