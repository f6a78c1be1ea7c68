from django.urls import path

from messaging.views import green_api_webhook

app_name = "messaging"

urlpatterns = [
    path("webhooks/green-api/", green_api_webhook, name="green-api-webhook"),
]
