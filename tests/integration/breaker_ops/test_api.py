from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from reliability.audit import AuditRecord
from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.models import BreakerState, BreakerTransition, CircuitBreaker, TransitionReason
from reliability.breaker.services import breaker_force_open

pytestmark = pytest.mark.django_db

LIST = "/admin/reliability/circuit-breakers"


def action_url(name: str, slug: str) -> str:
    return f"{LIST}/{name}/{slug}"


@pytest.fixture
def api():
    return APIClient()


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_anonymous_callers_get_401_with_a_message(api):
    for response in (api.get(LIST), api.post(action_url("green_api", "reset"))):
        assert response.status_code == 401
        assert response.json()["detail"] == "Authentication credentials were not provided."


def test_non_staff_users_get_403(api, django_user_model):
    api.force_authenticate(django_user_model.objects.create_user("customer", password="x"))
    response = api.get(LIST)
    assert response.status_code == 403
    assert response.json()["detail"] == "staff only"


def test_staff_list_every_breaker_with_its_live_state(superuser, staff_user, settings):
    breaker_force_open(name="deepseek", actor=superuser, channel="admin")

    response = token_client(staff_user).get(LIST)

    assert response.status_code == 200
    body = response.json()
    by_name = {item["name"]: item for item in body["circuit_breakers"]}
    assert set(settings.CIRCUIT_BREAKER_CONFIGS) <= set(by_name)
    assert body["count"] == len(by_name)
    assert by_name["deepseek"]["state"] == "forced_open"
    assert by_name["green_api"]["state"] == "closed"
    assert by_name["green_api"]["config"]["failure_threshold"] == 5


def test_reset_needs_the_reset_permission(staff_user, superuser):
    breaker_force_open(name="green_api", actor=superuser, channel="admin")

    response = token_client(staff_user).post(action_url("green_api", "reset"))

    assert response.status_code == 403
    assert "reliability.reset_circuitbreaker" in response.json()["detail"]
    assert get_circuit_breaker("green_api").state == BreakerState.FORCED_OPEN


def test_reset_with_token_closes_the_breaker_and_audits_it(operator_factory, superuser):
    breaker_force_open(name="green_api", actor=superuser, channel="admin")
    operator = operator_factory("reset_circuitbreaker")

    response = token_client(operator).post(
        action_url("green_api", "reset"), {"reason": "upstream fixed"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["from_state"], body["to_state"]) == ("forced_open", "closed")
    assert body["circuit_breaker"]["state"] == "closed"
    assert get_circuit_breaker("green_api").state == BreakerState.CLOSED
    audit = AuditRecord.objects.get(action="circuit_breaker.reset", target_id="green_api")
    assert (audit.actor_label, audit.reason) == ("api:operator", "upstream fixed")
    transition = BreakerTransition.objects.filter(breaker__name="green_api").first()
    assert (transition.reason, transition.actor) == (TransitionReason.OPERATOR, operator)


def test_reset_with_a_session_and_no_body(client, operator_factory):
    client.force_login(operator_factory("reset_circuitbreaker"))

    response = client.post(action_url("green_api", "reset"))

    assert response.status_code == 200
    assert AuditRecord.objects.get(action="circuit_breaker.reset").reason == ""


def test_unknown_breaker_is_404_with_a_message(operator_factory):
    response = token_client(operator_factory("reset_circuitbreaker")).post(action_url("no_such_breaker", "reset"))

    assert response.status_code == 404
    assert "no circuit breaker named 'no_such_breaker'" in response.json()["detail"]
    assert not CircuitBreaker.objects.filter(name="no_such_breaker").exists()


@pytest.mark.parametrize("body", ['{"reason": ', '["reason"]', '{"reason": "%s"}' % ("x" * 501)])
def test_a_malformed_body_is_400(operator_factory, body):
    client = token_client(operator_factory("reset_circuitbreaker"))
    response = client.post(action_url("green_api", "reset"), body, content_type="application/json")
    assert response.status_code == 400
    assert not AuditRecord.objects.exists()


@pytest.mark.parametrize(
    ("slug", "permission", "state"),
    [
        ("force-open", "force_open_circuitbreaker", "forced_open"),
        ("disable", "disable_circuitbreaker", "disabled"),
        ("metrics-only", "disable_circuitbreaker", "metrics_only"),
    ],
)
def test_each_action_needs_its_own_permission(operator_factory, slug, permission, state):
    wrong = token_client(operator_factory("reset_circuitbreaker", username="resetter"))
    assert wrong.post(action_url("deepseek", slug)).status_code == 403

    right = token_client(operator_factory(permission))
    response = right.post(action_url("deepseek", slug))

    assert response.status_code == 200
    assert get_circuit_breaker("deepseek").state == state


def test_back_to_normal_from_forced_open_and_409_when_already_normal(operator_factory, superuser):
    client = token_client(operator_factory("normalize_circuitbreaker"))
    assert client.post(action_url("deepseek", "normal")).status_code == 409

    breaker_force_open(name="deepseek", actor=superuser, channel="admin")
    response = client.post(action_url("deepseek", "normal"))

    assert response.status_code == 200
    assert get_circuit_breaker("deepseek").state == BreakerState.CLOSED


def test_staff_read_one_breaker_and_404_for_unknown(staff_user):
    client = token_client(staff_user)
    assert client.get(f"{LIST}/green_api").json()["name"] == "green_api"
    assert client.get(f"{LIST}/nope").status_code == 404


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"failure_threshold": -3}, "failure_threshold", "must be at least 1"),
        ({"failure_rate_threshold": 1.2}, "failure_rate_threshold", "at most 1"),
        ({"minimum_requests": 50, "window_size": 20}, "minimum_requests", "must not exceed window_size (20)"),
        ({"failure_threshold": "many"}, "failure_threshold", "must be a number"),
        ({"state": "closed"}, "state", "is not an editable circuit breaker threshold"),
    ],
)
def test_invalid_thresholds_are_refused_by_the_api(operator_factory, changes, field, message):
    client = token_client(operator_factory("change_circuitbreaker"))

    response = client.patch(f"{LIST}/green_api", changes, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert get_circuit_breaker("green_api").config.failure_threshold == 5
    assert not AuditRecord.objects.exists()


def test_thresholds_change_through_the_api(operator_factory, staff_user):
    assert (
        token_client(staff_user).patch(f"{LIST}/green_api", {"failure_threshold": 8}, format="json").status_code == 403
    )

    client = token_client(operator_factory("change_circuitbreaker"))
    response = client.patch(f"{LIST}/green_api", {"failure_threshold": 8, "reason": "tune"}, format="json")

    assert response.status_code == 200
    assert response.json()["config"]["failure_threshold"] == 8
    assert response.json()["overrides"] == {"failure_threshold": 8}
    assert get_circuit_breaker("green_api").config.failure_threshold == 8
    assert AuditRecord.objects.get(action="circuit_breaker.update_config").reason == "tune"
