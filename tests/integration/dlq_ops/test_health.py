"""/health/dlq: backlog and oldest age for everyone, detail for staff and monitoring tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reliability.dlq.models import DeadLetter, DeadLetterStatus

pytestmark = pytest.mark.django_db

URL = "/health/dlq"


@pytest.fixture(autouse=True)
def thresholds(settings):
    settings.DLQ_BACKLOG_WARN = 2
    settings.DLQ_OLDEST_AGE_WARN_SECONDS = 3600
    settings.HEALTH_TOKEN = "health-token-123456"


def test_an_empty_queue_passes(client):
    body = client.get(URL).json()
    assert body == {
        "status": "pass",
        "backlog": 0,
        "oldest_age_seconds": None,
        "by_status": {"pending": 0, "retrying": 0, "resolved": 0, "exhausted": 0, "discarded": 0},
    }


def test_anonymous_callers_see_status_and_counts_only(client, make_letter):
    make_letter(secret_note="do-not-show")
    response = client.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/health+json"
    body = response.json()
    assert set(body) == {"status", "backlog", "oldest_age_seconds", "by_status"}
    text = response.content.decode()
    assert "do-not-show" not in text and "timed out" not in text and "TransientError" not in text


def test_staff_and_token_holders_also_see_thresholds_types_and_groups(client, staff_user, make_letter):
    make_letter(secret_note="do-not-show")
    by_token = client.get(URL, headers={"Authorization": "Bearer health-token-123456"}).json()
    client.force_login(staff_user)
    by_staff = client.get(URL).json()
    for body in (by_token, by_staff):
        assert body["thresholds"] == {"backlog": 2, "oldest_age_seconds": 3600}
        assert body["by_type"] == {"ops_test_message": {"pending": 1}}
        assert body["groups"][0]["count"] == 1
        assert "do-not-show" not in str(body) and "timed out" not in str(body)


def test_a_wrong_token_gets_the_anonymous_view(client, make_letter):
    make_letter()
    body = client.get(URL, headers={"Authorization": "Bearer nope"}).json()
    assert "thresholds" not in body


def test_warns_when_the_backlog_exceeds_the_threshold(client, make_letter):
    for _ in range(2):
        make_letter()
    assert client.get(URL).json()["status"] == "pass"  # at the threshold, not above
    make_letter()
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json()["status"] == "warn" and response.json()["backlog"] == 3


def test_warns_when_the_oldest_letter_is_too_old(client, staff_user, make_letter):
    letter = make_letter()
    DeadLetter.objects.filter(pk=letter.pk).update(created_at=timezone.now() - timedelta(hours=2))
    client.force_login(staff_user)
    body = client.get(URL).json()
    assert body["status"] == "warn"
    assert body["oldest_age_warn"] is True and body["backlog_warn"] is False
    assert body["oldest_age_seconds"] >= 7200


def test_settled_letters_are_not_backlog(client, make_letter):
    letter = make_letter()
    DeadLetter.objects.filter(pk=letter.pk).update(
        status=DeadLetterStatus.RESOLVED, created_at=timezone.now() - timedelta(days=3)
    )
    body = client.get(URL).json()
    assert body["status"] == "pass" and body["backlog"] == 0 and body["oldest_age_seconds"] is None
