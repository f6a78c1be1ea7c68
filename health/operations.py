"""Health's parts of the reliability report and of the operator dashboard, registered from
``HealthConfig.ready`` (``reliability`` never imports ``health``).

Both read the health monitor's stored results (``health_results_latest``): one row per
check, the last run's. The monitor keeps no history, so the report cannot give a success
rate over its period from the database; it says so and shows the last results with their
time. Over time, the rate is Prometheus' ``health_check_total`` (``docs/operations.md``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest

from health.selectors import health_results_latest, workers_alive_count
from reliability.dashboard.registry import ChartWindow, DashboardPanel, register_dashboard_panel
from reliability.reports.registry import register_report_section

SUCCESS_RATE_NOTE = (
    "the health monitor stores each check's last result only, so no success rate over the period is "
    'read from the database; use sum by (check) (rate(health_check_total{status="healthy"}[$range])) / '
    "sum by (check) (rate(health_check_total[$range])) in Prometheus"
)


def _last_results() -> dict[str, dict[str, Any]]:
    return {
        name: {
            "status": result.status,
            "critical": result.critical,
            "checked_at": result.time,
            "response_time_ms": result.response_time_ms,
        }
        for name, result in sorted(health_results_latest().checks.items())
    }


def health_report_section(*, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    last = _last_results()
    return {
        "success_rate": None,
        "note": SUCCESS_RATE_NOTE,
        "last_results": last,
        "failing_now": sorted(name for name, result in last.items() if result["status"] == "fail"),
    }


def health_report_text(data: dict[str, Any]) -> list[str]:
    lines = [
        f"{name}: {r['status']} at {r['checked_at']} ({r['response_time_ms']:.0f} ms)"
        for name, r in data["last_results"].items()
    ]
    return (lines or ["no stored result yet (is the health monitor job running?)"]) + [f"note: {data['note']}"]


def health_panel_context(*, request: HttpRequest, window: ChartWindow) -> dict[str, Any]:
    health = health_results_latest()
    return {
        "results": [health.checks[name] for name in sorted(health.checks)],
        "overall": health.overall_status if health.checks else None,
        "workers_alive": workers_alive_count(),
    }


def register_operations() -> None:
    register_report_section("health", health_report_section, title="Health checks", text=health_report_text)
    register_dashboard_panel(
        DashboardPanel(
            key="health",
            title="Health checks (last results)",
            permissions=("health.view_healthcheckresult",),
            template="admin/health/dashboard/_health.html",
            context=health_panel_context,
            order=15,
        )
    )
