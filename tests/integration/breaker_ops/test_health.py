from __future__ import annotations

import pytest

from reliability.breaker.services import breaker_force_open, breaker_reset

pytestmark = pytest.mark.django_db

URL = "/health/circuit-breakers"


@pytest.fixture
def health_token(settings):
    settings.HEALTH_TOKEN = "health-token-0123456789"
    return settings.HEALTH_TOKEN


def test_anonymous_callers_see_names_and_states_only(client, settings):
    response = client.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/health+json"
    body = response.json()
    assert body["status"] == "pass"
    assert set(body["circuit_breakers"]) == set(settings.CIRCUIT_BREAKER_CONFIGS)
    assert all(item == {"state": "closed"} for item in body["circuit_breakers"].values())


def test_an_open_breaker_makes_the_status_warn(client, superuser):
    breaker_force_open(name="deepseek", actor=superuser, channel="admin")

    body = client.get(URL).json()

    assert body["status"] == "warn"
    assert body["output"] == "not closed: deepseek"
    assert body["circuit_breakers"]["deepseek"] == {"state": "forced_open"}

    breaker_reset(name="deepseek", actor=superuser, channel="admin")
    assert client.get(URL).json()["status"] == "pass"


def test_staff_see_the_figures(client, staff_user):
    client.force_login(staff_user)

    green_api = client.get(URL).json()["circuit_breakers"]["green_api"]

    assert green_api["state"] == "closed"
    assert green_api["consecutive_failures"] == 0
    assert green_api["failure_rate"] == 0.0
    assert green_api["config"]["failure_threshold"] == 5
    assert green_api["store"] == "redis"


def test_the_health_token_shows_the_figures_and_a_wrong_one_does_not(client, health_token):
    detailed = client.get(URL, headers={"Authorization": f"Bearer {health_token}"}).json()
    assert "config" in detailed["circuit_breakers"]["green_api"]

    plain = client.get(URL, headers={"Authorization": "Bearer wrong"}).json()
    assert plain["circuit_breakers"]["green_api"] == {"state": "closed"}
