"""The staff-only JSON ops API under the seed's ``/admin/reliability/`` paths.

Mounted before ``admin.site.urls`` so the admin's catch-all does not swallow it.
"""

from django.urls import path

from reliability.api import degradation, dlq, reports
from reliability.api.breakers import BreakerActionView, BreakerDetailView, BreakerListView
from reliability.breaker_ops import BREAKER_ACTIONS

app_name = "reliability-ops"

urlpatterns: list = [
    path("circuit-breakers", BreakerListView.as_view(), name="circuit-breakers"),
    path("circuit-breakers/<str:service>", BreakerDetailView.as_view(), name="circuit-breaker"),
    *(
        path(
            f"circuit-breakers/<str:service>/{slug}",
            BreakerActionView.as_view(slug=slug),
            name=f"circuit-breaker-{slug}",
        )
        for slug in BREAKER_ACTIONS
    ),
    path("degradation", degradation.DegradationView.as_view(), name="degradation"),
    path("degradation/set-level", degradation.DegradationSetLevelView.as_view(), name="degradation-set-level"),
    path("degradation/clear", degradation.DegradationClearView.as_view(), name="degradation-clear"),
    path("dlq", dlq.DeadLetterSummaryView.as_view(), name="dlq"),
    path("dlq/<str:message_id>/retry", dlq.DeadLetterRetryView.as_view(), name="dlq-retry"),
    path("reports/reliability", reports.ReliabilityReportView.as_view(), name="reports-reliability"),
]
