from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from config.metrics import metrics_view

urlpatterns = [
    path("health/", include("health.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/", include("messaging.urls")),
    path("admin/reliability/", include("reliability.urls")),
    path("admin/", admin.site.urls),
]
