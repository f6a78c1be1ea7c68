from __future__ import annotations

import pytest


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = "scrape-token-123456"
    return settings.METRICS_TOKEN


def test_metrics_are_not_public(client, metrics_token):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_scraper_with_the_token_reads_metrics(client, metrics_token):
    response = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    assert response.status_code == 200
    assert b"health_check_duration_seconds" in response.content


def test_a_wrong_token_is_refused(client, metrics_token):
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


@pytest.mark.django_db
def test_staff_sessions_read_metrics(client, staff_user):
    client.force_login(staff_user)
    assert client.get("/metrics").status_code == 200


SEED_METRICS = (
    "circuit_breaker_requests_total",
    "circuit_breaker_failures_total",
    "circuit_breaker_response_time",
    "circuit_breaker_state",
    "retry_attempts_total",
    "retry_delay_seconds",
    "health_check_duration_seconds",
    "health_check_status",
    "health_check_total",
    "system_degradation_level",
    "degradation_events_total",
    "dlq_messages_total",
    "dlq_messages_added_total",
    "dlq_processing_duration_seconds",
    "fallback_usage_total",
)


@pytest.mark.django_db
def test_the_seed_metric_names_are_exposed(client, metrics_token):
    body = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"}).content.decode()
    exposed = {line.split()[2] for line in body.splitlines() if line.startswith("# TYPE")}
    # Counters are declared without their _total suffix in the TYPE line.
    exposed |= {f"{name}_total" for name in exposed}
    missing = [name for name in SEED_METRICS if name not in exposed]
    assert not missing, f"missing from /metrics: {missing}"
