"""Routes of the messaging API, mounted under ``/api/v1/`` by ``messaging.urls``.

Ids in paths are matched as any segment and checked by the views, so ``/messages/abc``
answers a JSON 404 rather than the site's HTML one. Both ``/messages/{id}`` and
``/messages/{id}/`` work.
"""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from messaging.api.messages import MessageDetailView, MessageListView
from messaging.api.sentiment import SentimentView
from messaging.api.triggers import TriggerViewSet

router = SimpleRouter()
router.register("triggers", TriggerViewSet, basename="trigger")

urlpatterns = [
    path("messages/", MessageListView.as_view(), name="message-list"),
    re_path(r"^messages/(?P<message_id>[^/]+)/?$", MessageDetailView.as_view(), name="message-detail"),
    path("sentiment/", SentimentView.as_view(), name="sentiment"),
    *router.urls,
]
