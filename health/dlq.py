"""``GET /health/dlq``: the dead letter backlog and the age of its oldest letter.

``warn`` (HTTP 200: a backlog is for an operator, not a reason to restart anything)
when the backlog exceeds ``DLQ_BACKLOG_WARN`` or the oldest unsettled letter is older
than ``DLQ_OLDEST_AGE_WARN_SECONDS``. Anonymous callers see the status and the counts;
a staff session or ``Authorization: Bearer <HEALTH_TOKEN>`` also sees the thresholds,
the counts by type and the largest failure groups. Payloads and error texts are never
shown here.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.metrics import has_monitoring_access
from health.checks import CONTENT_TYPE
from reliability.dlq.selectors import dead_letter_backlog_status, dead_letter_groups

GROUPS_SHOWN = 10


@require_GET
@never_cache
def dlq_health(request: HttpRequest) -> JsonResponse:
    report = dead_letter_backlog_status()
    body = {
        "status": "warn" if report["warn"] else "pass",
        "backlog": report["backlog"],
        "oldest_age_seconds": report["oldest_age_seconds"],
        "by_status": report["by_status"],
    }
    if has_monitoring_access(request, settings.HEALTH_TOKEN):
        body.update(
            {
                "backlog_warn": report["backlog_warn"],
                "oldest_age_warn": report["oldest_age_warn"],
                "thresholds": report["thresholds"],
                "by_type": report["by_type"],
                "groups": [
                    {key: group[key] for key in ("fingerprint", "message_type", "error_class", "failure_kind", "count")}
                    for group in dead_letter_groups(limit=GROUPS_SHOWN)
                ],
            }
        )
    return JsonResponse(body, content_type=CONTENT_TYPE)
