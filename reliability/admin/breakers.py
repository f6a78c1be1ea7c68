"""Circuit breakers in the admin: live state, history, thresholds and operator actions.

The list and the change page show the state read from the breaker's store (what every
process obeys), not the row's last known state. Threshold edits and operator actions go
through ``reliability.breaker.services``, so the version bump, the transition history and
the audit trail are the same whether the change came from here, the ops API or the shell.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from reliability.admin.read_only import ReadOnlyAdminMixin
from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.config import OVERRIDE_FIELDS, coerce_override
from reliability.breaker.models import BreakerState, BreakerTransition, CircuitBreaker
from reliability.breaker.selectors import BreakerSnapshot, UnknownBreaker, breaker_require
from reliability.breaker.services import BreakerActionRefused, breaker_update_config
from reliability.breaker_ops import (
    BREAKER_ACTIONS,
    STATE_COLOURS,
    BreakerAction,
    breaker_action_run,
    breaker_rows_ensure,
    breaker_snapshot_or_none,
)

HISTORY_LIMIT = 50


def _live(obj: CircuitBreaker) -> BreakerSnapshot | None:
    """The snapshot the change list attached to the row, or a fresh one on the change page."""
    if not hasattr(obj, "live"):
        obj.live = breaker_snapshot_or_none(name=obj.name)
    return obj.live


class BreakerChangeList(ChangeList):
    """Reads each listed breaker's live state once per page, not once per column."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        for row in self.result_list:
            row.live = breaker_snapshot_or_none(name=row.name)


class CircuitBreakerForm(forms.ModelForm):
    change_reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why the thresholds change; kept in the audit trail.",
    )

    class Meta:
        model = CircuitBreaker
        fields = OVERRIDE_FIELDS

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        # The service refuses what coerce_override refuses; say so on the field, not as a 500.
        for name in OVERRIDE_FIELDS:
            try:
                coerce_override(name, cleaned.get(name))
            except ValidationError as exc:
                self.add_error(name, exc.message_dict[name])
        if self.errors:
            return cleaned
        overrides = {name: cleaned.get(name) for name in OVERRIDE_FIELDS if cleaned.get(name) is not None}
        merged = get_circuit_breaker(self.instance.name).base_config.with_changes(overrides)
        try:
            merged.validate()
        except ValidationError as exc:
            for field, problems in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, problems)
        return cleaned


class RecentTransitionsFormSet(BaseInlineFormSet):
    """Only the latest transitions: a flapping breaker's history can run to thousands of rows."""

    def get_queryset(self) -> list[BreakerTransition]:
        if not hasattr(self, "_recent"):
            self._recent = list(super().get_queryset().select_related("actor")[:HISTORY_LIMIT])
        return self._recent


class BreakerTransitionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BreakerTransition
    formset = RecentTransitionsFormSet
    fields = ("created_at", "from_state", "to_state", "reason", "failure_rate", "actor", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = f"Transition history (latest {HISTORY_LIMIT}, newest first)"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever may see the breaker may see its history; the history itself is never edited.
        return request.user.has_perm("reliability.view_circuitbreaker") or request.user.has_perm(
            "reliability.change_circuitbreaker"
        )


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(admin.ModelAdmin):
    form = CircuitBreakerForm
    list_display = (
        "name",
        "live_state",
        "live_failure_rate",
        "live_consecutive_failures",
        "live_open_until",
        "overridden",
    )
    search_fields = ("name",)
    show_full_result_count = False
    inlines = (BreakerTransitionInline,)
    readonly_fields = (
        "name",
        "live_state",
        "live_failure_rate",
        "live_consecutive_failures",
        "live_open_until",
        "state_changed_at",
        "config_version",
        "effective_config",
    )
    actions = (
        "reset_selected",
        "force_open_selected",
        "disable_selected",
        "metrics_only_selected",
        "normalize_selected",
    )

    # --- columns ----------------------------------------------------------------------

    @admin.display(description="state")
    def live_state(self, obj: CircuitBreaker) -> str:
        live = _live(obj)
        if live is None:
            return format_html('<span title="store unreachable">unknown (last known: {})</span>', obj.state)
        state = BreakerState(live["state"])
        return format_html(
            '<span class="breaker-badge breaker-{}" style="background:{};color:#fff;padding:2px 8px;'
            'border-radius:8px;white-space:nowrap">{}</span>',
            state.value,
            STATE_COLOURS[state],
            state.label,
        )

    @admin.display(description="failure rate")
    def live_failure_rate(self, obj: CircuitBreaker) -> str:
        live = _live(obj)
        if live is None:
            return "-"
        return f"{live['failure_rate']:.0%} of {live['calls_in_window']}"

    @admin.display(description="consecutive failures")
    def live_consecutive_failures(self, obj: CircuitBreaker) -> int | str:
        live = _live(obj)
        return "-" if live is None else live["consecutive_failures"]

    @admin.display(description="open until")
    def live_open_until(self, obj: CircuitBreaker) -> str:
        live = _live(obj)
        if live is None or live["open_until"] is None:
            return "-"
        return f"{live['open_until']:%Y-%m-%d %H:%M:%S} UTC (in {live['retry_after']:.0f} s)"

    @admin.display(description="overrides", boolean=True)
    def overridden(self, obj: CircuitBreaker) -> bool:
        return any(getattr(obj, name) is not None for name in OVERRIDE_FIELDS)

    @admin.display(description="effective configuration")
    def effective_config(self, obj: CircuitBreaker) -> str:
        live = _live(obj)
        if live is None:
            return "store unreachable"
        configured = getattr(settings, "CIRCUIT_BREAKER_CONFIGS", {}).get(obj.name, {})

        def source(field: str) -> str:
            if field in live["overrides"]:
                return "admin override"
            return "settings" if field in configured else "default"

        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td><td>{}</td></tr>",
            ((field, value, source(field)) for field, value in live["config"].items()),
        )
        return format_html("<table><tr><th>field</th><th>value</th><th>from</th></tr>{}</table>", rows)

    # --- change list and change page ----------------------------------------------------

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return BreakerChangeList

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        breaker_rows_ensure()
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        extra = {**(extra_context or {}), "breaker_actions": self._allowed_actions(request)}
        return super().change_view(request, object_id, form_url, extra)

    def get_fieldsets(self, request: HttpRequest, obj: CircuitBreaker | None = None) -> list:
        overrides = list(OVERRIDE_FIELDS)
        if self.has_change_permission(request, obj):
            overrides.append("change_reason")
        return [
            (
                None,
                {
                    "fields": (
                        "name",
                        "live_state",
                        "live_failure_rate",
                        "live_consecutive_failures",
                        "live_open_until",
                        "state_changed_at",
                        "config_version",
                    )
                },
            ),
            ("Effective configuration", {"fields": ("effective_config",)}),
            (
                "Threshold overrides",
                {
                    "description": "Blank fields inherit CIRCUIT_BREAKER_CONFIGS. Saved changes reach "
                    "every process within 2 seconds.",
                    "fields": overrides,
                },
            ),
        ]

    def save_model(self, request: HttpRequest, obj: CircuitBreaker, form: CircuitBreakerForm, change: bool) -> None:
        # Never obj.save(): it would write back a stale state and runtime over the live ones.
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in OVERRIDE_FIELDS}
        if changes:
            breaker_update_config(
                name=obj.name,
                changes=changes,
                actor=request.user,
                channel="admin",
                reason=form.cleaned_data.get("change_reason", ""),
            )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Breakers come from settings and code; their rows are created on demand.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CircuitBreaker | None = None) -> bool:
        return False

    # --- operator actions ---------------------------------------------------------------

    def _allowed_actions(self, request: HttpRequest) -> list[BreakerAction]:
        return [action for action in BREAKER_ACTIONS.values() if request.user.has_perm(action.perm)]

    def has_reset_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(BREAKER_ACTIONS["reset"].perm)

    def has_force_open_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(BREAKER_ACTIONS["force-open"].perm)

    def has_disable_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(BREAKER_ACTIONS["disable"].perm)

    def has_metrics_only_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(BREAKER_ACTIONS["metrics-only"].perm)

    def has_normalize_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(BREAKER_ACTIONS["normal"].perm)

    def _to_confirmation(self, slug: str, queryset: QuerySet[CircuitBreaker]) -> HttpResponseRedirect:
        names = list(queryset.values_list("name", flat=True))
        url = reverse("admin:reliability_circuitbreaker_operate", args=[slug], current_app=self.admin_site.name)
        return HttpResponseRedirect(f"{url}?{urlencode({'name': names}, doseq=True)}")

    @admin.action(permissions=["reset"], description="Reset selected circuit breakers")
    def reset_selected(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> HttpResponseRedirect:
        return self._to_confirmation("reset", queryset)

    @admin.action(permissions=["force_open"], description="Force selected circuit breakers open")
    def force_open_selected(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> HttpResponseRedirect:
        return self._to_confirmation("force-open", queryset)

    @admin.action(permissions=["disable"], description="Disable selected circuit breakers")
    def disable_selected(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> HttpResponseRedirect:
        return self._to_confirmation("disable", queryset)

    @admin.action(permissions=["metrics_only"], description="Switch selected circuit breakers to metrics only")
    def metrics_only_selected(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> HttpResponseRedirect:
        return self._to_confirmation("metrics-only", queryset)

    @admin.action(permissions=["normalize"], description="Return selected circuit breakers to normal")
    def normalize_selected(self, request: HttpRequest, queryset: QuerySet[CircuitBreaker]) -> HttpResponseRedirect:
        return self._to_confirmation("normal", queryset)

    def get_urls(self) -> list:
        operate = path(
            "operate/<slug:slug>/",
            self.admin_site.admin_view(self.operate_view),
            name="reliability_circuitbreaker_operate",
        )
        return [operate, *super().get_urls()]

    def operate_view(self, request: HttpRequest, slug: str) -> HttpResponse:
        """GET: say what will happen to which breakers. POST: do it, then report counts."""
        action = BREAKER_ACTIONS.get(slug)
        if action is None:
            raise Http404(f"no circuit breaker action {slug!r}")
        if not request.user.has_perm(action.perm):
            raise PermissionDenied(f"{action.label} needs the permission {action.perm}")
        data = request.POST if request.method == "POST" else request.GET
        names = sorted(set(data.getlist("name")))
        changelist = reverse("admin:reliability_circuitbreaker_changelist", current_app=self.admin_site.name)
        if not names:
            messages.warning(request, "No circuit breaker was selected.")
            return HttpResponseRedirect(changelist)
        for name in names:
            try:
                breaker_require(name=name)
            except UnknownBreaker as exc:
                raise Http404(str(exc)) from None
        form = OperatorReasonForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            self._operate(request, action, names, form.cleaned_data["reason"])
            back = changelist
            if data.get("from") == "change" and len(names) == 1:
                pk = CircuitBreaker.objects.values_list("pk", flat=True).get(name=names[0])
                back = reverse("admin:reliability_circuitbreaker_change", args=[pk], current_app=self.admin_site.name)
            return HttpResponseRedirect(back)
        breakers = []
        for name in names:
            live = breaker_snapshot_or_none(name=name)
            state = BreakerState(live["state"]) if live is not None else None
            skipped = action.refusal(state=state) if action.refusal is not None else None
            breakers.append({"name": name, "state": state, "skipped": skipped})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{action.label}: are you sure?",
            "action": action,
            "breakers": breakers,
            "affected": sum(not item["skipped"] for item in breakers),
            "form": form,
            "came_from": data.get("from", ""),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/reliability/circuitbreaker/confirm_action.html", context)

    def _operate(self, request: HttpRequest, action: BreakerAction, names: list[str], reason: str) -> None:
        done: list[str] = []
        for name in names:
            try:
                breaker_action_run(slug=action.slug, name=name, actor=request.user, channel="admin", reason=reason)
            except BreakerActionRefused as exc:
                messages.warning(request, f"Skipped: {exc}")
            else:
                done.append(name)
        noun = "circuit breaker" if len(done) == 1 else "circuit breakers"
        if done:
            messages.success(request, f"{len(done)} {noun} {action.past}: {', '.join(done)}.")
        else:
            messages.warning(request, f"No circuit breaker was {action.past}.")


class OperatorReasonForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Optional; kept in the transition history and the audit trail.",
    )
