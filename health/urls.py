from django.urls import path

from health import dlq, views
from health.breakers import circuit_breakers_health
from health.degradation import degradation_health

app_name = "health"

urlpatterns = [
    path("", views.summary, name="summary"),
    path("live", views.live, name="live"),
    path("ready", views.ready, name="ready"),
    path("detailed", views.detailed, name="detailed"),
    path("circuit-breakers", circuit_breakers_health, name="circuit-breakers"),
    path("dlq", dlq.dlq_health, name="dlq"),
    path("degradation", degradation_health, name="degradation"),
]
