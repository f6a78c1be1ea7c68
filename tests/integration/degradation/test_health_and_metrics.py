"""``/health/degradation``, the fallbacks in ``/health/detailed``, the metrics, and read-only mode."""

from __future__ import annotations

import pytest
from django.test import Client

from reliability.degradation.services import degradation_evaluate, degradation_set_level

pytestmark = pytest.mark.django_db

TOKEN = "health-token-123456"


@pytest.fixture(autouse=True)
def _tokens(settings):
    settings.HEALTH_TOKEN = TOKEN
    settings.METRICS_TOKEN = TOKEN


def bearer() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_anonymous_callers_see_the_level_and_its_source_only(client, superuser, committed):
    with committed():
        degradation_set_level(
            level="moderate", reason="secret maintenance note", expires_in=600, actor=superuser, channel="admin"
        )
    response = client.get("/health/degradation")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/health+json"
    body = response.json()
    assert set(body) == {"status", "output", "level", "level_value", "source", "since", "expires_at", "stale"}
    assert (body["status"], body["level"], body["level_value"], body["source"]) == ("warn", "moderate", 2, "operator")
    assert body["expires_at"] is not None
    assert "secret maintenance note" not in response.content.decode()


def test_monitoring_sees_the_reason_and_the_conditions(client, committed):
    with committed():
        degradation_evaluate()
    body = client.get("/health/degradation", headers=bearer()).json()
    assert (body["status"], body["level"], body["source"]) == ("pass", "normal", "auto")
    assert body["conditions"]["redis_down"] == {"met": False, "level": "severe", "detail": "pass"}
    assert body["features"]["ai_sentiment"] is True
    assert body["read_only"] is False


def test_detailed_health_shows_this_processs_fallbacks(client):
    body = client.get("/health/detailed", headers=bearer()).json()
    assert body["fallbacks"]["redis_cache"]["active"] is False
    assert body["fallbacks"]["circuit_breakers_on_local_state"] == {}


def test_the_level_is_scraped_from_the_shared_state_and_changes_are_counted(client, superuser, committed):
    with committed():
        degradation_set_level(level="severe", reason="drill", actor=superuser, channel="cli")
    scrape = client.get("/metrics", headers=bearer()).content.decode()
    assert "system_degradation_level 3.0" in scrape
    assert 'system_degradation_source{source="operator"} 1.0' in scrape
    assert 'degradation_events_total{from="normal",source="operator",to="severe"}' in scrape
    assert 'fallback_usage_total{reason="unavailable",service="redis"}' in scrape
    assert 'fallback_usage_total{reason="not_allowed",service="deepseek"}' in scrape


def test_read_only_mode_refuses_writes_with_503_and_serves_reads(settings, superuser, committed):
    settings.DEGRADATION_READ_ONLY = True
    with committed():
        degradation_evaluate()
    client = Client()
    client.force_login(superuser)
    refused = client.post("/admin/reliability/degradation/set-level?level=minor&reason=x")
    assert refused.status_code == 503
    assert refused["Retry-After"] == "30"
    assert "read-only mode" in refused.json()["detail"]
    assert client.delete("/admin/reliability/circuit-breakers/green_api").status_code == 503
    admin_post = client.post("/admin/reliability/circuitbreaker/", {"action": "reset_selected"})
    assert admin_post.status_code == 503
    assert "read-only mode" in admin_post.content.decode()
    assert client.get("/admin/reliability/circuit-breakers").status_code == 200
    assert client.get("/health/degradation").json()["read_only"] is True
    # The probes, the metrics and the login page stay open.
    assert Client().post("/admin/login/", {"username": "x", "password": "y"}).status_code == 200
    assert Client().post("/health/live").status_code == 405


def test_writes_go_through_again_once_the_database_is_writable(settings, superuser, committed):
    settings.DEGRADATION_READ_ONLY = True
    with committed():
        degradation_evaluate()
    settings.DEGRADATION_READ_ONLY = False
    with committed():
        degradation_evaluate()
    client = Client()
    client.force_login(superuser)
    with committed():
        response = client.post("/admin/reliability/degradation/set-level?level=minor&reason=back")
    assert response.status_code == 200
