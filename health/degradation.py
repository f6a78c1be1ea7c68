"""The health checks as degradation conditions, and ``GET /health/degradation``.

Conditions this module makes usable in ``DEGRADATION_RULES`` (registered by
``HealthConfig.ready``; reliability never imports health):

- ``database_down``: the ``database`` check fails;
- ``redis_down``: Redis is configured (``REDIS_URL``) and the ``cache`` check, which is
  Redis then, fails;
- ``health:CHECK``: the check named CHECK does not pass (``warn`` or ``fail``);
- ``health:CHECK:FIELD!=VALUE`` / ``health:CHECK:FIELD=VALUE``: the check's observed value
  (an object) has FIELD unequal / equal to VALUE, e.g.
  ``health:green_api:stateInstance!=authorized``. A check that failed has no observed
  value: such a condition then does not hold (the check's breaker has its own rule).

All of them are answered by one run of the checks they name, fresh (not the probes'
cache), each under ``HEALTH_CHECK_TIMEOUT``. A check name no check has reads as unknown.

``/health/degradation`` is ``warn`` (HTTP 200: a degraded service is no reason to restart
anything) at any level above normal, or when the state could not be read. Anonymous
callers see the level, its source, since when and until when; a staff session or
``Authorization: Bearer <HEALTH_TOKEN>`` also sees the reason, who set it, the automatic
level, the conditions seen and the feature gates.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.metrics import has_monitoring_access
from health.checks import ALL_CHECKS, CONTENT_TYPE, CheckResult, HealthChecker
from reliability.degradation.conditions import Condition, Reading, register_condition_kind
from reliability.degradation.selectors import degradation_status

_FIELD_TEST = re.compile(r"^(?P<field>[A-Za-z_][\w.-]*)(?P<op>!=|=)(?P<value>.*)$")
_OWN_CHECK = {"database_down": "database", "redis_down": "cache"}


def _check_name(condition: Condition) -> str:
    return _OWN_CHECK.get(condition.kind) or condition.argument.partition(":")[0]


def _argument_problem(argument: str) -> str | None:
    check, _, test = argument.partition(":")
    if not check:
        return "health needs a check name: health:CHECK or health:CHECK:FIELD!=VALUE"
    if test and not _FIELD_TEST.match(test):
        return f"{test!r} is not FIELD!=VALUE or FIELD=VALUE"
    return None


def _observed_test(result: CheckResult, test: str) -> Reading:
    match = _FIELD_TEST.match(test)
    assert match is not None  # the system check refused anything else
    observed = result.observed_value
    field = match["field"]
    if not isinstance(observed, dict) or field not in observed:
        return Reading(None, f"{result.name} ({result.status}) reported no {field}")
    value = "" if observed[field] is None else str(observed[field])
    equal = value == match["value"]
    return Reading(equal if match["op"] == "=" else not equal, f"{field}={value}")


def read_health_conditions(conditions: list[Condition]) -> dict[str, Reading]:
    wanted = {_check_name(condition) for condition in conditions}
    checks = tuple(check for check in ALL_CHECKS if check.name in wanted)
    results = HealthChecker(checks, cache_seconds=0).check_all_dependencies().checks if checks else {}
    readings = {}
    for condition in conditions:
        if condition.kind == "redis_down" and not settings.REDIS_URL:
            readings[condition.text] = Reading(False, "no Redis configured")
            continue
        result = results.get(_check_name(condition))
        if result is None:
            readings[condition.text] = Reading(None, f"no health check named {_check_name(condition)!r}")
            continue
        test = condition.argument.partition(":")[2] if condition.kind == "health" else ""
        if test:
            readings[condition.text] = _observed_test(result, test)
        elif condition.kind == "health":
            readings[condition.text] = Reading(result.status != "pass", result.output or result.status)
        else:
            readings[condition.text] = Reading(result.status == "fail", result.output or result.status)
    return readings


def register_conditions() -> None:
    register_condition_kind(
        "database_down",
        reader=read_health_conditions,
        takes_argument=False,
        description="database_down - the database health check fails",
    )
    register_condition_kind(
        "redis_down",
        reader=read_health_conditions,
        takes_argument=False,
        description="redis_down - REDIS_URL is set and the cache health check (Redis) fails",
    )
    register_condition_kind(
        "health",
        reader=read_health_conditions,
        takes_argument=True,
        description="health:CHECK[:FIELD!=VALUE] - a health check does not pass, or its observed FIELD differs",
        argument_problem=_argument_problem,
    )


PUBLIC_FIELDS = ("level", "level_value", "source", "since", "expires_at", "stale")


@require_GET
@never_cache
def degradation_health(request: HttpRequest) -> JsonResponse:
    status = degradation_status()
    shown: dict[str, Any] = (
        dict(status)
        if has_monitoring_access(request, settings.HEALTH_TOKEN)
        else {field: status[field] for field in PUBLIC_FIELDS}
    )
    body: dict[str, Any] = {"status": "warn" if status["level_value"] or status["stale"] else "pass", **shown}
    if status["stale"]:
        body["output"] = "neither Redis nor the database answered: this is the last state this process knew"
    elif status["level_value"]:
        body["output"] = f"degraded: {status['level']} ({status['source']})"
    return JsonResponse(body, content_type=CONTENT_TYPE)
