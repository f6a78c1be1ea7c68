"""The API's hygiene: who may read the schema, what it declares, caching, and one error mapping."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from reliability.api.serializers import BreakerThresholdsSerializer
from reliability.breaker.breaker import forget_circuit_breakers
from reliability.breaker.config import OVERRIDE_FIELDS
from reliability.dlq.models import DeadLetter, DeadLetterStatus
from reliability.dlq.services import dead_letter_add
from reliability.errors import TransientError

pytestmark = pytest.mark.django_db

SCHEMA = "/api/schema/?format=json"
BREAKERS = "/admin/reliability/circuit-breakers"


@pytest.fixture(autouse=True)
def _fresh_breakers(redis_client):
    forget_circuit_breakers()
    yield
    forget_circuit_breakers()


@pytest.fixture
def customer(django_user_model):
    """An API client: not staff, authenticates with a token."""
    return django_user_model.objects.create_user("customer", password="customer-pass")


def test_the_schema_is_not_public(client):
    response = client.get(SCHEMA)
    assert response.status_code == 401
    assert "Authentication credentials" in response.json()["detail"]


def test_the_schema_refuses_a_session_that_is_not_staff(client, customer):
    client.force_login(customer)
    response = client.get(SCHEMA)
    assert response.status_code == 403
    assert "staff session or 'Authorization: Token <key>'" in response.json()["detail"]


def test_staff_and_api_token_holders_read_the_schema(client, staff_user, customer):
    client.force_login(staff_user)
    assert client.get(SCHEMA).status_code == 200

    token = Token.objects.create(user=customer)
    response = Client().get(SCHEMA, headers={"Authorization": f"Token {token.key}"})
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "WhatsApp reliability service"


@pytest.fixture
def schema(client, staff_user) -> dict:
    client.force_login(staff_user)
    return client.get(SCHEMA).json()


def test_the_patch_body_declares_every_threshold_with_its_type(schema):
    operation = schema["paths"][f"{BREAKERS}/{{service}}"]["patch"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    properties = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]

    assert set(properties) == {*OVERRIDE_FIELDS, "reason"}
    assert properties["failure_threshold"] == {
        "type": "integer",
        "nullable": True,
        "description": "consecutive failures that open the breaker",
    }
    assert properties["recovery_timeout"]["type"] == "number"
    assert properties["recovery_timeout"]["nullable"] is True
    assert properties["reason"]["type"] == "string"


def test_the_thresholds_serializer_covers_exactly_the_editable_fields():
    assert set(BreakerThresholdsSerializer().fields) == {*OVERRIDE_FIELDS, "reason"}


@pytest.mark.parametrize(
    ("path", "method", "component"),
    [
        (BREAKERS, "get", "BreakerList"),
        (f"{BREAKERS}/{{service}}", "get", "BreakerSnapshot"),
        (f"{BREAKERS}/{{service}}/reset", "post", "BreakerActionResult"),
        ("/admin/reliability/dlq", "get", "DeadLetterSummary"),
        ("/admin/reliability/dlq/{message_id}/retry", "post", "DeadLetterReplayResult"),
    ],
)
def test_every_ops_answer_has_a_typed_schema(schema, path, method, component):
    answer = schema["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": f"#/components/schemas/{component}"}
    properties = schema["components"]["schemas"][component]["properties"]
    assert all("type" in prop or "$ref" in prop or "allOf" in prop for prop in properties.values()), properties


def test_the_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "BreakerThresholds" in (tmp_path / "schema.yaml").read_text()


# --- Cache-Control --------------------------------------------------------------------------------


@pytest.fixture
def letter() -> DeadLetter:
    return dead_letter_add(message_type="hygiene_test", payload={"n": 1}, error=TransientError("x"), source="tests")


def no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_every_ops_api_answer_is_never_cached(client, superuser, letter, handlers):
    handlers["hygiene_test"] = lambda payload: None
    client.force_login(superuser)
    answers = {
        "list": client.get(BREAKERS),
        "detail": client.get(f"{BREAKERS}/green_api"),
        "patch": client.patch(f"{BREAKERS}/green_api", {"failure_threshold": 6}, "application/json"),
        "action": client.post(f"{BREAKERS}/green_api/reset"),
        "dlq": client.get("/admin/reliability/dlq"),
        "retry": client.post(f"/admin/reliability/dlq/{letter.pk}/retry"),
        "404": client.get(f"{BREAKERS}/nope"),
        "409": client.post(f"{BREAKERS}/green_api/normal"),
        "400": client.patch(f"{BREAKERS}/green_api", {"failure_threshold": "NaN"}, "application/json"),
        "401": Client().get(BREAKERS),
    }

    assert {name: response.status_code for name, response in answers.items()} == {
        **dict.fromkeys(("list", "detail", "patch", "action", "dlq", "retry"), 200),
        "404": 404,
        "409": 409,
        "400": 400,
        "401": 401,
    }
    assert [name for name, response in answers.items() if not no_store(response)] == []


def test_metrics_answers_are_never_cached(client, settings):
    settings.METRICS_TOKEN = "scrape-token-123456"
    assert no_store(client.get("/metrics"))
    assert no_store(client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123456"}))


# --- One exception handler ------------------------------------------------------------------------


def test_project_errors_map_to_404_409_and_400_with_a_message(client, superuser, letter):
    client.force_login(superuser)
    DeadLetter.objects.filter(pk=letter.pk).update(status=DeadLetterStatus.RESOLVED)

    unknown = client.post(f"{BREAKERS}/nope/reset")
    refused = client.post(f"{BREAKERS}/green_api/normal")
    settled = client.post(f"/admin/reliability/dlq/{letter.pk}/retry")
    invalid = client.patch(f"{BREAKERS}/green_api", {"minimum_requests": 50, "window_size": 20}, "application/json")

    assert (unknown.status_code, refused.status_code, settled.status_code, invalid.status_code) == (404, 409, 409, 400)
    assert "no circuit breaker named 'nope'" in unknown.json()["detail"]
    assert "use reset to close it" in refused.json()["detail"]
    assert settled.json() == {"detail": f"dead letter #{letter.pk} is resolved: cannot replay it", "status": "resolved"}
    assert "must not exceed window_size (20)" in invalid.json()["minimum_requests"][0]
