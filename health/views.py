"""The /health/* probes. Thin: the checks and their caching live in ``health.checks``.

Anonymous callers get statuses only; the detailed report (error texts, observed values,
versions) needs a staff session or ``Authorization: Bearer <HEALTH_TOKEN>``.
"""

from __future__ import annotations

import os
import platform

import django
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.metrics import has_monitoring_access
from health.checks import ALL_CHECKS, CONTENT_TYPE, CRITICAL_CHECKS, HealthChecker
from reliability.breaker.breaker import breakers_on_local_state
from reliability.degradation.fallbacks import fallback_service
from reliability.degradation.state import to_datetime


def _respond(body: dict, *, status: int = 200) -> JsonResponse:
    return JsonResponse(body, status=status, content_type=CONTENT_TYPE)


def _http_status(overall: str) -> int:
    return 503 if overall == "fail" else 200


@require_GET
@never_cache
def live(request: HttpRequest) -> JsonResponse:
    """The process answers: no dependency is touched, so a dead database never restarts pods."""
    return _respond({"status": "pass"})


@require_GET
@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    """Critical dependencies only; 503 takes the instance out of the load balancer."""
    health = HealthChecker(CRITICAL_CHECKS, cache_seconds=settings.HEALTH_READY_CACHE_SECONDS).check_all_dependencies()
    return _respond(health.as_json(detailed=False), status=_http_status(health.overall_status))


@require_GET
@never_cache
def summary(request: HttpRequest) -> JsonResponse:
    health = HealthChecker(ALL_CHECKS).check_all_dependencies()
    return _respond(health.as_json(detailed=False), status=_http_status(health.overall_status))


@require_GET
@never_cache
def detailed(request: HttpRequest) -> JsonResponse:
    if not has_monitoring_access(request, settings.HEALTH_TOKEN):
        message = "detailed health needs a staff session or 'Authorization: Bearer <HEALTH_TOKEN>'"
        response = _respond({"status": "fail", "output": message}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="health"'
        return response
    health = HealthChecker(ALL_CHECKS).check_all_dependencies()
    body = health.as_json(detailed=True)
    body["version"] = settings.SPECTACULAR_SETTINGS["VERSION"]
    body["environment"] = settings.APP_ENV
    body["details"] = {"python": platform.python_version(), "django": django.get_version()}
    body["fallbacks"] = process_fallbacks()
    return _respond(body, status=_http_status(health.overall_status))


def process_fallbacks() -> dict:
    """What this process serves from its own memory because Redis does not answer (each
    process decides for itself; ``fallback_active`` and ``circuit_breaker_local_fallback``
    show it across processes)."""
    cache_status = fallback_service.status()
    return {
        "process": os.getpid(),
        "redis_cache": {**cache_status, "since": to_datetime(cache_status["since"])},
        "circuit_breakers_on_local_state": {
            name: to_datetime(since) for name, since in sorted(breakers_on_local_state().items())
        },
    }
