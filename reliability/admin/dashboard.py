"""The operator dashboard: one admin page with every panel the user may see, refreshing itself.

Both URLs are behind ``admin_site.admin_view`` (staff only; anonymous users go to the
login page) and each panel behind its own permissions (``dashboard_panels``): a staff
user without view permissions gets the page and no data. The page fetches the panels'
fragment every ``DASHBOARD_REFRESH_SECONDS`` and swaps it in, without a full reload.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.contrib.admin import AdminSite
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from redis.exceptions import RedisError

from reliability.dashboard.registry import ChartWindow, dashboard_panels
from reliability.dashboard.series import chart_window

log = structlog.get_logger(__name__)
FRAGMENT_HEADER = "X-Dashboard-Fragment"


def _window() -> ChartWindow:
    now = timezone.now()
    since, until, step = chart_window(now=now, hours=settings.DASHBOARD_CHART_HOURS)
    return ChartWindow(now=now, since=since, until=until, step=step)


def _panels(request: HttpRequest, window: ChartWindow) -> list[dict[str, Any]]:
    rendered = []
    for panel in dashboard_panels(request=request):
        try:
            context = panel.context(request=request, window=window)
            html = render_to_string(panel.template, {**context, "window": window}, request=request)
        except (DatabaseError, RedisError) as exc:
            # One store down leaves the other panels readable.
            log.warning("dashboard_panel_unavailable", panel=panel.key, error_class=type(exc).__name__)
            html = render_to_string(
                "admin/reliability/dashboard/_unavailable.html", {"error_class": type(exc).__name__}, request=request
            )
        rendered.append({"key": panel.key, "title": panel.title, "html": html})
    return rendered


def _fragment_context(request: HttpRequest) -> dict[str, Any]:
    window = _window()
    return {"panels": _panels(request, window), "window": window, "hours": settings.DASHBOARD_CHART_HOURS}


def dashboard_urls(admin_site: AdminSite) -> list[URLPattern]:
    """The page and its fragment, each wrapped in ``admin_view``."""

    def page(request: HttpRequest) -> HttpResponse:
        context = {
            **admin_site.each_context(request),
            **_fragment_context(request),
            "title": "Operator dashboard",
            "refresh_url": reverse("admin:reliability_dashboard_panels", current_app=admin_site.name),
            "refresh_seconds": settings.DASHBOARD_REFRESH_SECONDS,
        }
        request.current_app = admin_site.name
        response = TemplateResponse(request, "admin/reliability/dashboard/page.html", context)
        add_never_cache_headers(response)
        return response

    def panels(request: HttpRequest) -> HttpResponse:
        html = render_to_string("admin/reliability/dashboard/_panels.html", _fragment_context(request), request=request)
        response = HttpResponse(html)
        response[FRAGMENT_HEADER] = "1"
        add_never_cache_headers(response)
        return response

    return [
        path("dashboard/", admin_site.admin_view(page), name="reliability_dashboard"),
        path("dashboard/panels/", admin_site.admin_view(panels), name="reliability_dashboard_panels"),
    ]
