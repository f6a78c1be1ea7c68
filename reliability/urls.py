"""The staff-only JSON ops API under the seed's ``/admin/reliability/`` paths.

Mounted before ``admin.site.urls`` so the admin's catch-all does not swallow it.
"""

from django.urls import path

from reliability.api import dlq

app_name = "reliability-ops"

urlpatterns: list = [
    path("dlq", dlq.DeadLetterSummaryView.as_view(), name="dlq"),
    path("dlq/<str:message_id>/retry", dlq.DeadLetterRetryView.as_view(), name="dlq-retry"),
]
