"""The staff-only JSON ops API under the seed's ``/admin/reliability/`` paths.

Mounted before ``admin.site.urls`` so the admin's catch-all does not swallow it.
"""

from django.urls import path  # noqa: F401

app_name = "reliability-ops"

urlpatterns: list = []
