"""The dashboard's own panels: circuit breakers, degradation, the dead letter queue."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from reliability.breaker.models import BreakerState, BreakerTransition, CircuitBreaker
from reliability.breaker_ops import BREAKER_ACTIONS, STATE_COLOURS, breaker_live_list
from reliability.dashboard.charts import Segment, Series, line_chart_svg, timeline_svg
from reliability.dashboard.registry import ChartWindow, DashboardPanel, register_dashboard_panel
from reliability.dashboard.series import counts_per_bucket, running_total_per_bucket
from reliability.degradation.levels import DegradationLevel
from reliability.degradation.models import DegradationEvent
from reliability.degradation.selectors import degradation_status
from reliability.dlq.models import DeadLetter
from reliability.dlq.selectors import SETTLED, UNSETTLED, dead_letter_oldest_age_seconds, dead_letter_waiting_at
from reliability.reports.services import OPEN_STATES
from reliability.reports.timeline import state_segments

LEVEL_COLOURS = {
    "normal": "#2e7d32",
    "minor": "#9e9d24",
    "moderate": "#ef6c00",
    "severe": "#c62828",
    "critical": "#4a148c",
}
SET_LEVEL = "reliability.set_degradation_level"


def _segments(raw: list[tuple[Any, Any, Any]], name: Any = str) -> list[Segment]:
    return [Segment(start, end, name(state)) for start, end, state in raw]


def breakers_context(*, request: HttpRequest, window: ChartWindow) -> dict[str, Any]:
    may_reset = request.user.has_perm(BREAKER_ACTIONS["reset"].perm)
    operate = reverse("admin:reliability_circuitbreaker_operate", args=["reset"])
    rows = {row.name: row for row in CircuitBreaker.objects.all()}
    breakers, timeline = [], []
    for name, live in breaker_live_list():
        row = rows.get(name)
        state = live["state"] if live is not None else None
        breakers.append(
            {
                "name": name,
                "state": state,
                "label": BreakerState(state).label if state else "unknown (store unreachable)",
                "colour": STATE_COLOURS.get(state, "#9e9e9e"),
                "open_since": live["state_changed_at"] if live is not None and state in OPEN_STATES else None,
                "failure_rate": live["failure_rate"] if live is not None else None,
                "calls_in_window": live["calls_in_window"] if live is not None else None,
                "reset_url": f"{operate}?{urlencode({'name': name})}" if may_reset else None,
                "change_url": reverse("admin:reliability_circuitbreaker_change", args=[row.pk]) if row else None,
            }
        )
        history = BreakerTransition.objects.filter(breaker=row) if row else BreakerTransition.objects.none()
        raw = state_segments(
            history=history,
            at="created_at",
            to_state="to_state",
            from_state="from_state",
            since=window.since,
            until=window.now,
            current=row.state if row else BreakerState.CLOSED,
        )
        timeline.append((name, _segments(raw)))
    chart = timeline_svg(
        rows=timeline, since=window.since, until=window.until, colours=STATE_COLOURS, title="Breaker states"
    )
    return {"breakers": breakers, "timeline": chart}


def degradation_context(*, request: HttpRequest, window: ChartWindow) -> dict[str, Any]:
    status = degradation_status()
    raw = state_segments(
        history=DegradationEvent.objects.all(),
        at="created_at",
        to_state="to_level",
        from_state="from_level",
        since=window.since,
        until=window.now,
        current=status["level_value"],
    )
    chart = timeline_svg(
        rows=[("level", _segments(raw, lambda level: DegradationLevel(level).slug))],
        since=window.since,
        until=window.until,
        colours=LEVEL_COLOURS,
        title="Degradation level",
    )
    may_set = request.user.has_perm(SET_LEVEL)
    return {
        "status": status,
        "override": status["source"] == "operator",
        "set_url": reverse("admin:reliability_degradation_set") if may_set else None,
        "clear_url": reverse("admin:reliability_degradation_clear") if may_set else None,
        "timeline": chart,
    }


def dead_letters_context(*, request: HttpRequest, window: ChartWindow) -> dict[str, Any]:
    changelist = reverse("admin:reliability_deadletter_changelist")
    rows = (
        DeadLetter.objects.filter(status__in=UNSETTLED)
        .order_by()
        .values("message_type", "status")
        .annotate(n=Count("id"))
    )
    by_type: dict[str, dict[str, int]] = {}
    for row in rows:
        by_type.setdefault(row["message_type"], {})[row["status"]] = row["n"]
    types = [
        {
            "message_type": kind,
            "counts": [counts.get(status, 0) for status in UNSETTLED],
            "total": sum(counts.values()),
            "url": f"{changelist}?{urlencode({'message_type': kind})}",
        }
        for kind, counts in sorted(by_type.items())
    ]
    letters = DeadLetter.objects.all()
    added = counts_per_bucket(
        queryset=letters, field="created_at", since=window.since, until=window.until, step=window.step
    )
    removed = counts_per_bucket(
        queryset=letters.filter(status__in=SETTLED),
        field="settled_at",
        since=window.since,
        until=window.until,
        step=window.step,
    )
    backlog = running_total_per_bucket(
        start_value=letters.filter(dead_letter_waiting_at(window.since)).count(),
        added=added,
        removed=removed,
        step=window.step,
    )
    chart = line_chart_svg(
        series=[Series("waiting letters", "#c62828", backlog)],
        since=window.since,
        until=window.until,
        title="Dead letter backlog",
    )
    return {
        "types": types,
        "statuses": UNSETTLED,
        "backlog": sum(t["total"] for t in types),
        "oldest_age_seconds": dead_letter_oldest_age_seconds(now=window.now),
        "list_url": changelist,
        "pending_url": f"{changelist}?{urlencode({'status__exact': 'pending'})}",
        "exhausted_url": f"{changelist}?{urlencode({'status__exact': 'exhausted'})}",
        "chart": chart,
    }


def register_reliability_panels() -> None:
    for panel in (
        DashboardPanel(
            key="breakers",
            title="Circuit breakers",
            permissions=("reliability.view_circuitbreaker",),
            template="admin/reliability/dashboard/_breakers.html",
            context=breakers_context,
            order=10,
        ),
        DashboardPanel(
            key="degradation",
            title="Degradation",
            permissions=("reliability.view_degradationstate",),
            template="admin/reliability/dashboard/_degradation.html",
            context=degradation_context,
            order=20,
        ),
        DashboardPanel(
            key="dead_letters",
            title="Dead letter queue",
            permissions=("reliability.view_deadletter",),
            template="admin/reliability/dashboard/_dead_letters.html",
            context=dead_letters_context,
            order=30,
        ),
    ):
        register_dashboard_panel(panel)
