from django.urls import include, path

from messaging.views import green_api_webhook

app_name = "messaging"

urlpatterns = [
    path("webhooks/green-api/", green_api_webhook, name="green-api-webhook"),
    path("", include("messaging.api.urls")),
]
