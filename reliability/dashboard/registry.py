"""Panels of the operator dashboard, registered by the app that owns what they show.

``reliability`` never imports ``messaging`` or ``health``: those apps register their panels
(the outbox, messages and replies, the last health results) from ``AppConfig.ready``.
Each panel names the permissions it needs; a user who lacks one does not get the panel,
and its data is never read for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class ChartWindow:
    """What the charts cover: ``[since, until)`` in buckets of ``step``, as of ``now``."""

    now: dt.datetime
    since: dt.datetime
    until: dt.datetime
    step: dt.timedelta


@dataclass(frozen=True)
class DashboardPanel:
    key: str
    title: str
    permissions: tuple[str, ...]
    template: str
    context: Callable[..., dict[str, Any]]  # context(*, request, window) -> template context
    order: int = 100


_panels: dict[str, DashboardPanel] = {}


def register_dashboard_panel(panel: DashboardPanel) -> None:
    """Add (or replace, on a second ``ready``) a panel of the dashboard."""
    _panels[panel.key] = panel


def dashboard_panels(*, request: HttpRequest) -> list[DashboardPanel]:
    """The panels ``request.user`` may see, in order."""
    user = request.user
    return sorted(
        (panel for panel in _panels.values() if user.has_perms(panel.permissions)), key=lambda p: (p.order, p.key)
    )
