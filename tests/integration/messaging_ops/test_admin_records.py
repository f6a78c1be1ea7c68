"""Sentiment results and instance state events: read-only lists with their filters."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import InstanceStateEvent, WebhookType

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


def shown(client, url: str, query: str = "") -> set[int]:
    response = client.get(f"{url}?{query}")
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def test_sentiment_results_filter_by_label_source_and_degraded(root_client, make_event, make_sentiment):
    url = reverse("admin:messaging_sentimentresult_changelist")
    angry = make_sentiment(make_event("awful"), "negative")
    happy = make_sentiment(make_event("great"), "positive", score=0.9, degraded=True)

    assert shown(root_client, url, "label__exact=negative") == {angry.pk}
    assert shown(root_client, url, "source__exact=fallback") == {happy.pk}
    assert shown(root_client, url, "degraded__exact=1") == {happy.pk}
    page = root_client.get(url).content.decode()
    assert "sentiment-degraded" in page and "great" in page


def test_instance_state_events_are_listed_newest_first_and_read_only(root_client, make_event):
    url = reverse("admin:messaging_instancestateevent_changelist")
    event = make_event("", type_webhook=WebhookType.STATE_INSTANCE_CHANGED, chat_id="")
    state = InstanceStateEvent.objects.create(
        kind="state_changed", state="notAuthorized", occurred_at=timezone.now(), event=event
    )
    assert shown(root_client, url, "kind__exact=state_changed") == {state.pk}
    assert root_client.get(reverse("admin:messaging_instancestateevent_add")).status_code == 403
    detail = root_client.get(reverse("admin:messaging_instancestateevent_change", args=[state.pk]))
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()


def test_sentiment_results_cannot_be_edited(root_client, make_event, make_sentiment):
    result = make_sentiment(make_event())
    assert root_client.get(reverse("admin:messaging_sentimentresult_add")).status_code == 403
    response = root_client.post(reverse("admin:messaging_sentimentresult_delete", args=[result.pk]), {"post": "yes"})
    assert response.status_code == 403
