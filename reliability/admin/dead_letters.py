"""The dead letter admin: look, then act through confirmed, permissioned actions.

Operators never edit a letter. Replay, discard (reason required) and mark resolved are
admin actions, each behind its own model permission, and each goes through one
confirmation page that names the count and carries the explicit id snapshot as hidden
inputs: the POST acts on exactly those ids, never on a filter re-evaluated later
(Sidekiq's "delete all" that ignored the filter is the bug this avoids). The page has a
dry run that shows what would happen and changes nothing. The work itself is done by
the services in ``reliability.dlq.services``, which also write the audit records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator
from django.utils.timesince import timesince
from kombu.exceptions import OperationalError

from reliability.dlq.exceptions import (
    DeadLetterNotFound,
    FingerprintAmbiguous,
    FingerprintNotFound,
    FingerprintPrefixInvalid,
)
from reliability.dlq.models import DeadLetter, DeadLetterAttempt, DeadLetterStatus
from reliability.dlq.selectors import (
    UNSETTLED,
    dead_letter_counts_by_status,
    dead_letter_fingerprint_resolve,
    dead_letter_groups,
    dead_letter_ids,
    dead_letter_oldest_age_seconds,
    operator_actionable,
)
from reliability.dlq.services import BulkResult, dead_letter_discard, dead_letter_replay_many, dead_letter_resolve
from reliability.tasks import replay_dead_letters

CHANNEL = "admin"
# One confirmation page carries at most this many ids; a larger selection must be narrowed
# (or replayed with the ``dlq`` command), so a request never runs for minutes.
MAX_SNAPSHOT = 1000
# Larger replays go to the ``replay_dead_letters`` task: at the per-type replay rate they
# would outlast a web request.
INLINE_REPLAY_MAX = 25
# Rows listed on the confirmation page; every id is still in the hidden inputs.
LISTED_ROWS = 100


@dataclass(frozen=True)
class _Action:
    name: str
    verb: str
    done: str
    reason_required: bool
    run: Callable[..., BulkResult]


def _replay(*, letter_ids: list[int], reason: str, actor: Any, dry_run: bool) -> BulkResult:
    return dead_letter_replay_many(letter_ids=letter_ids, actor=actor, channel=CHANNEL, dry_run=dry_run)


def _discard(*, letter_ids: list[int], reason: str, actor: Any, dry_run: bool) -> BulkResult:
    return dead_letter_discard(letter_ids=letter_ids, reason=reason, actor=actor, channel=CHANNEL, dry_run=dry_run)


def _resolve(*, letter_ids: list[int], reason: str, actor: Any, dry_run: bool) -> BulkResult:
    return dead_letter_resolve(letter_ids=letter_ids, reason=reason, actor=actor, channel=CHANNEL, dry_run=dry_run)


ACTIONS = {
    "replay": _Action("replay", "Replay", "replayed", False, _replay),
    "discard": _Action("discard", "Discard", "discarded", True, _discard),
    "resolve": _Action("resolve", "Mark resolved", "marked resolved", False, _resolve),
}


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    now = timezone.now()
    return timesince(now - timedelta(seconds=seconds), now, depth=2)


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("lt1h", "Under 1 hour"), ("lt24h", "1 to 24 hours"), ("gte24h", "Older than 24 hours")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
        now = timezone.now()
        hour, day = now - timedelta(hours=1), now - timedelta(hours=24)
        if self.value() == "lt1h":
            return queryset.filter(created_at__gte=hour)
        if self.value() == "lt24h":
            return queryset.filter(created_at__lt=hour, created_at__gte=day)
        if self.value() == "gte24h":
            return queryset.filter(created_at__lt=day)
        return queryset


class FingerprintFilter(admin.SimpleListFilter):
    """The largest unsettled failure groups by name; any fingerprint in the URL filters too."""

    title = "failure group (fingerprint)"
    parameter_name = "fingerprint"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            (g["fingerprint"], f"{g['message_type']}: {g['error_class'].rsplit('.', 1)[-1]} ({g['count']})")
            for g in dead_letter_groups(status=UNSETTLED, limit=10)
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> QuerySet[DeadLetter]:
        return queryset.filter(fingerprint=self.value()) if self.value() else queryset


class DeadLetterAttemptInline(admin.TabularInline):
    """The letter's history, oldest first; written by the services only."""

    model = DeadLetterAttempt
    fields = ("attempted_at", "outcome", "failure_kind", "error_class", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_view_permission(self, request: HttpRequest, obj: DeadLetter | None = None) -> bool:
        # Whoever may see a letter may see its history.
        return request.user.has_perm("reliability.view_deadletter")

    def has_add_permission(self, request: HttpRequest, obj: DeadLetter | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DeadLetter | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DeadLetter | None = None) -> bool:
        return False


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "message_type",
        "status",
        "attempts_display",
        "error_class_short",
        "message_short",
        "age",
        "next_retry_at",
    )
    list_filter = ("status", "message_type", "failure_kind", "error_class", FingerprintFilter, AgeFilter)
    # An exact id, free text in the message and the source; a fingerprint prefix is resolved
    # by get_search_results.
    search_fields = ("id__exact", "error_message", "source")
    search_help_text = (
        "Exact id, a fingerprint or a unique prefix of it (8+ characters), or text in the error message or source."
    )
    list_select_related = ("settled_by",)
    show_full_result_count = False
    list_per_page = 50
    ordering = ("-created_at", "-id")
    actions = ("replay_selected", "discard_selected", "resolve_selected")
    inlines = (DeadLetterAttemptInline,)
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "message_type",
                    "status",
                    "failure_kind",
                    "source",
                    "fingerprint_link",
                    "breaker_name",
                    "attempts_display",
                    "next_retry_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
        ("Settled", {"fields": ("settled_at", "settled_by", "settled_reason")}),
        ("Payload", {"fields": ("payload_pretty",)}),
        ("Last error", {"fields": ("error_class", "error_message", "traceback_pre")}),
        ("First failure", {"fields": ("first_error_pretty",)}),
    )
    # Everything shown is read-only: operators act through the actions.
    readonly_fields = tuple(field for _, options in fieldsets for field in options["fields"])

    # --- Permissions: look through the admin, act through the actions only ---------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DeadLetter | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DeadLetter | None = None) -> bool:
        # Settled letters go by the retention job; open ones are discarded, with a reason.
        return False

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reliability.replay_deadletter")

    def has_discard_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reliability.discard_deadletter")

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reliability.resolve_deadletter")

    def _may(self, request: HttpRequest, action: str) -> bool:
        return getattr(self, f"has_{action}_permission")(request)

    # --- Columns and detail fields ------------------------------------------------------

    @admin.display(description="attempts")
    def attempts_display(self, obj: DeadLetter) -> str:
        return f"{obj.attempts}/{obj.max_retries}"

    @admin.display(description="error class", ordering="error_class")
    def error_class_short(self, obj: DeadLetter) -> str:
        return obj.error_class.rsplit(".", 1)[-1]

    @admin.display(description="error")
    def message_short(self, obj: DeadLetter) -> str:
        return Truncator(obj.error_message).chars(80)

    @admin.display(description="age", ordering="created_at")
    def age(self, obj: DeadLetter) -> str:
        return timesince(obj.created_at, depth=2)

    @admin.display(description="fingerprint")
    def fingerprint_link(self, obj: DeadLetter) -> str:
        url = reverse("admin:reliability_deadletter_changelist") + "?" + urlencode({"fingerprint": obj.fingerprint})
        return format_html('<a href="{}">{}</a>', url, obj.fingerprint)

    @admin.display(description="payload")
    def payload_pretty(self, obj: DeadLetter) -> str:
        return _pre(json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False))

    @admin.display(description="traceback")
    def traceback_pre(self, obj: DeadLetter) -> str:
        return _pre(obj.traceback)

    @admin.display(description="first failure")
    def first_error_pretty(self, obj: DeadLetter) -> str:
        return _pre(json.dumps(obj.first_error, indent=2, sort_keys=True, ensure_ascii=False))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DeadLetter], search_term: str
    ) -> tuple[QuerySet[DeadLetter], bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            fingerprint = dead_letter_fingerprint_resolve(prefix=search_term)
        except (FingerprintPrefixInvalid, FingerprintNotFound):
            return results, may_have_duplicates  # not a fingerprint: the text search stands
        except FingerprintAmbiguous as exc:
            self.message_user(request, f"{str(exc).capitalize()}.", messages.ERROR)
            return queryset.none(), False
        return results | queryset.filter(fingerprint=fingerprint), may_have_duplicates

    # --- Pages -----------------------------------------------------------------------------

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        counts = dead_letter_counts_by_status()
        groups = dead_letter_groups(status=UNSETTLED, limit=10)
        changelist_url = reverse("admin:reliability_deadletter_changelist")
        may_replay = self.has_replay_permission(request)
        for group in groups:
            group["filter_url"] = changelist_url + "?" + urlencode({"fingerprint": group["fingerprint"]})
            if may_replay:
                group["replay_url"] = self._confirm_url("replay", fingerprint=group["fingerprint"])
        context = {
            "dlq_counts": [(DeadLetterStatus(status).label, count) for status, count in counts.items()],
            "dlq_unsettled": sum(counts[s] for s in UNSETTLED),
            "dlq_groups": groups,
            "dlq_oldest_pending_age": _age(dead_letter_oldest_age_seconds(statuses=(DeadLetterStatus.PENDING,))),
            "dlq_oldest_unsettled_age": _age(dead_letter_oldest_age_seconds(statuses=UNSETTLED)),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        letter = None
        if object_id.isdigit():
            letter = DeadLetter.objects.filter(pk=object_id).only("id", "fingerprint").first()
        context = dict(extra_context or {})
        if letter is not None:
            actionable = DeadLetter.objects.filter(operator_actionable(now=timezone.now()), pk=letter.pk).exists()
            tools = [
                (ACTIONS[name].verb, self._confirm_url(name, ids=[letter.pk]))
                for name in ACTIONS
                if actionable and self._may(request, name)
            ]
            if self.has_replay_permission(request):
                same = len(dead_letter_ids(fingerprint=letter.fingerprint, actionable=True, limit=MAX_SNAPSHOT + 1))
                if same:
                    shown = same if same <= MAX_SNAPSHOT else f"{MAX_SNAPSHOT}+"
                    tools.append(
                        (
                            f"Replay all with this fingerprint ({shown})",
                            self._confirm_url("replay", fingerprint=letter.fingerprint),
                        )
                    )
            context["dlq_tools"] = tools
        return super().change_view(request, object_id, form_url, extra_context=context)

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "confirm/<str:action>/",
                self.admin_site.admin_view(self.confirm_view),
                name="reliability_deadletter_confirm",
            )
        ]
        return custom + super().get_urls()

    def _confirm_url(self, action: str, *, ids: list[int] | None = None, fingerprint: str | None = None) -> str:
        url = reverse("admin:reliability_deadletter_confirm", kwargs={"action": action})
        query = {"ids": ",".join(map(str, ids))} if ids is not None else {"fingerprint": fingerprint}
        return f"{url}?{urlencode(query)}"

    # --- Actions: each one only opens the confirmation page with a snapshot of the ids ----------

    @admin.action(permissions=["replay"], description="Replay selected dead letters…")
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> HttpResponse | None:
        return self._confirm_selection(request, queryset, "replay")

    @admin.action(permissions=["discard"], description="Discard selected dead letters (reason required)…")
    def discard_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> HttpResponse | None:
        return self._confirm_selection(request, queryset, "discard")

    @admin.action(permissions=["resolve"], description="Mark selected dead letters resolved…")
    def resolve_selected(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> HttpResponse | None:
        return self._confirm_selection(request, queryset, "resolve")

    def _confirm_selection(
        self, request: HttpRequest, queryset: QuerySet[DeadLetter], action: str
    ) -> HttpResponse | None:
        ids = list(queryset.order_by("created_at", "id").values_list("id", flat=True)[: MAX_SNAPSHOT + 1])
        if len(ids) > MAX_SNAPSHOT:
            self.message_user(
                request,
                f"More than {MAX_SNAPSHOT} letters selected: narrow the filter, or use the dlq command.",
                messages.ERROR,
            )
            return None
        return self._render_confirmation(request, ACTIONS[action], ids)

    # --- The confirmation page: GET shows, "dry run" previews, "confirm" acts -------------------

    def confirm_view(self, request: HttpRequest, action: str) -> HttpResponse:
        spec = ACTIONS.get(action)
        if spec is None:
            raise Http404(f"unknown dead letter action {action!r}")
        if not self._may(request, action):
            raise PermissionDenied(f"needs the {action}_deadletter permission")
        source = request.POST if request.method == "POST" else request.GET
        try:
            ids = _parse_ids(source)
        except ValueError as exc:
            return HttpResponseBadRequest(str(exc))
        if ids is None:
            if not request.GET.get("fingerprint"):
                return HttpResponseBadRequest("give ids=1,2,3 or fingerprint=...")
            try:
                fingerprint = dead_letter_fingerprint_resolve(prefix=request.GET["fingerprint"])
            except (FingerprintPrefixInvalid, FingerprintAmbiguous) as exc:
                return HttpResponseBadRequest(str(exc))
            except FingerprintNotFound as exc:
                raise Http404(str(exc)) from None
            ids = dead_letter_ids(fingerprint=fingerprint, actionable=True, limit=MAX_SNAPSHOT + 1)
        if len(ids) > MAX_SNAPSHOT:
            return HttpResponseBadRequest(
                f"more than {MAX_SNAPSHOT} letters at once: narrow the selection, or use the dlq command"
            )
        if not ids:
            self.message_user(request, "No dead letters to act on.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:reliability_deadletter_changelist"))
        if request.method != "POST" or not ({"_dry_run", "_confirm"} & set(request.POST)):
            return self._render_confirmation(request, spec, ids)
        return self._act(request, spec, ids, dry_run="_dry_run" in request.POST)

    def _act(self, request: HttpRequest, spec: _Action, ids: list[int], *, dry_run: bool) -> HttpResponse:
        reason = request.POST.get("reason", "").strip()
        if spec.reason_required and not reason:
            return self._render_confirmation(request, spec, ids, error="A reason is required.", status=400)
        queue = spec.name == "replay" and not dry_run and len(ids) > INLINE_REPLAY_MAX
        try:
            # A queued replay is planned here (unknown ids refused, skips counted) and run by a worker.
            result = spec.run(letter_ids=ids, reason=reason, actor=request.user, dry_run=dry_run or queue)
        except DeadLetterNotFound as exc:
            return self._render_confirmation(request, spec, ids, error=f"{str(exc).capitalize()}.", status=404)
        if dry_run:
            return self._render_confirmation(request, spec, ids, dry_run=result, reason=reason)
        if queue:
            return self._queue_replay(request, spec, result)
        done, failed = _done_and_failed(result)
        skipped = len(result.skipped)
        level = messages.SUCCESS if not failed and not skipped else messages.WARNING
        self.message_user(
            request,
            f"{spec.verb}: {done} {spec.done}, {skipped} skipped, {failed} failed (of {len(ids)} selected).",
            level,
        )
        return HttpResponseRedirect(reverse("admin:reliability_deadletter_changelist"))

    def _queue_replay(self, request: HttpRequest, spec: _Action, plan: BulkResult) -> HttpResponse:
        ids = [i for i, planned in plan.planned.items() if planned == "replay"]
        try:
            replay_dead_letters.delay(letter_ids=ids, actor_id=request.user.pk, channel=CHANNEL)
        except OperationalError:
            return self._render_confirmation(
                request,
                spec,
                plan.letter_ids,
                error="The task broker is unavailable: nothing was queued. Replay fewer letters, or use the command.",
                status=503,
            )
        self.message_user(
            request,
            f"{spec.verb}: {len(ids)} queued for a worker, {len(plan.skipped)} skipped "
            f"(of {len(plan.letter_ids)} selected). Each outcome lands in the letter's history and the audit trail.",
            messages.SUCCESS if not plan.skipped else messages.WARNING,
        )
        return HttpResponseRedirect(reverse("admin:reliability_deadletter_changelist"))

    def _render_confirmation(
        self,
        request: HttpRequest,
        spec: _Action,
        ids: list[int],
        *,
        dry_run: BulkResult | None = None,
        reason: str = "",
        error: str = "",
        status: int = 200,
    ) -> TemplateResponse:
        letters = DeadLetter.objects.filter(id__in=ids).order_by("created_at", "id")
        found = set(DeadLetter.objects.filter(id__in=ids).values_list("id", flat=True))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{spec.verb} {len(ids)} dead letter{'s' if len(ids) != 1 else ''}?",
            "action": spec,
            "ids": ids,
            "count": len(ids),
            "letters": letters[:LISTED_ROWS],
            "more": max(len(ids) - LISTED_ROWS, 0),
            "queued": spec.name == "replay" and len(ids) > INLINE_REPLAY_MAX,
            "missing": [i for i in ids if i not in found],
            "form_url": reverse("admin:reliability_deadletter_confirm", kwargs={"action": spec.name}),
            "dry_run": dry_run,
            "plan": sorted(dry_run.planned.items()) if dry_run is not None else [],
            "reason": reason or request.POST.get("reason", ""),
            "error": error,
        }
        return TemplateResponse(request, "admin/reliability/deadletter/confirm_action.html", context, status=status)


def _parse_ids(source: Any) -> list[int] | None:
    """The explicit id snapshot: repeated ``ids`` inputs or one comma-separated ``ids``."""
    raw = [part for value in source.getlist("ids") for part in value.split(",") if part.strip()]
    if not raw and "ids" not in source:
        return None
    try:
        return list(dict.fromkeys(int(part) for part in raw))
    except ValueError:
        raise ValueError("ids must be integers") from None


def _done_and_failed(result: BulkResult) -> tuple[int, int]:
    if result.action == "replay":
        resolved = sum(1 for r in result.results if r.resolved)
        return resolved, len(result.results) - resolved
    return result.count, 0


def _pre(text: str) -> str:
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)
