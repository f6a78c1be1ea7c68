"""``GET /health/circuit-breakers``: the live state of every breaker.

``warn`` (HTTP 200: an open breaker protects us, it is no reason to restart anything)
while any breaker rejects calls (open, half-open or forced open) or cannot be read.
Anonymous callers see names and states only; a staff session or
``Authorization: Bearer <HEALTH_TOKEN>`` also sees the window figures and thresholds.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.metrics import has_monitoring_access
from health.checks import CONTENT_TYPE
from reliability.breaker.models import BreakerState
from reliability.breaker_ops import breaker_live_list

REJECTING_STATES = {BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.FORCED_OPEN}
DETAIL_FIELDS = (
    "scope",
    "store",
    "failure_rate",
    "slow_call_rate",
    "consecutive_failures",
    "calls_in_window",
    "half_open_calls",
    "open_until",
    "retry_after",
    "config",
    "overrides",
)


@require_GET
@never_cache
def circuit_breakers_health(request: HttpRequest) -> JsonResponse:
    detailed = has_monitoring_access(request, settings.HEALTH_TOKEN)
    breakers: dict[str, dict[str, Any]] = {}
    for name, live in breaker_live_list():
        if live is None:
            breakers[name] = {"state": "unknown"}
            continue
        breakers[name] = {"state": live["state"]}
        if detailed:
            breakers[name].update({field: live[field] for field in DETAIL_FIELDS})
    warn = [name for name, item in breakers.items() if item["state"] in REJECTING_STATES or item["state"] == "unknown"]
    body: dict[str, Any] = {"status": "warn" if warn else "pass", "circuit_breakers": breakers}
    if warn:
        body["output"] = f"not closed: {', '.join(warn)}"
    return JsonResponse(body, content_type=CONTENT_TYPE)
