"""Bad input answers 4xx with a message, never a 500: every door, on the suite's PostgreSQL.

Each of these used to end as a 500: a non-ASCII bearer token (``hmac.compare_digest``
on text), NaN/Infinity/32-bit overflow in breaker thresholds, NUL characters reaching a
PostgreSQL query, ids of the wrong type ticked on an admin change list, and JSON nested
deeply enough to exhaust the parser's recursion.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from reliability.audit import AuditRecord
from reliability.breaker.breaker import forget_circuit_breakers, get_circuit_breaker
from reliability.breaker.config import OVERRIDE_FIELDS
from reliability.breaker.models import CircuitBreaker
from reliability.dlq.models import DeadLetter
from reliability.dlq.services import dead_letter_add
from reliability.errors import TransientError

pytestmark = pytest.mark.django_db

BREAKERS = "/admin/reliability/circuit-breakers"
TOKEN_DOORS = ("/health/detailed", "/health/dlq", "/health/circuit-breakers", "/metrics")
# Doors that answer anonymous callers too, with less detail.
PUBLIC_DOORS = {"/health/dlq": "thresholds", "/health/circuit-breakers": "config"}


@pytest.fixture(autouse=True)
def _fresh_breakers(redis_client, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    forget_circuit_breakers()
    yield
    forget_circuit_breakers()


@pytest.fixture
def tokens(settings):
    settings.HEALTH_TOKEN = settings.METRICS_TOKEN = "clé-de-surveillance"
    return settings.HEALTH_TOKEN


@pytest.fixture
def root(superuser) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    return client


@pytest.fixture
def letter() -> DeadLetter:
    return dead_letter_add(
        message_type="bad_input_test", payload={"n": 1}, error=TransientError("timed out"), source="tests"
    )


def detail(response) -> str:
    if response["Content-Type"].startswith("application/json"):
        return json.dumps(response.json())
    return response.content.decode()


# --- 12: non-ASCII bearer tokens --------------------------------------------------------

NON_ASCII_HEADERS = [
    "Bearer é",
    "Bearer ключ-доступа",
    "Bearer €uro",  # beyond latin-1: only a test client can send it, and it must not crash either
    "Bearer \udcff",  # a lone surrogate
    "Bearer clé-de-surveillance",  # the right token as text, not as the bytes a client sends
    "bEaReR  ",
]


@pytest.mark.parametrize("path", TOKEN_DOORS)
@pytest.mark.parametrize("header", NON_ASCII_HEADERS)
def test_a_non_ascii_bearer_token_is_a_wrong_token_not_a_crash(tokens, path, header):
    response = Client(raise_request_exception=False).get(path, headers={"Authorization": header})

    if path in PUBLIC_DOORS:
        assert response.status_code == 200
        assert PUBLIC_DOORS[path] not in response.content.decode(), "a wrong token must not see the details"
    else:
        assert response.status_code == 401
        assert "Bearer" in response["WWW-Authenticate"]


@pytest.mark.parametrize("path", TOKEN_DOORS)
def test_a_non_ascii_token_matches_the_utf8_bytes_a_client_sends(tokens, path):
    # WSGI servers hand header bytes over as latin-1 text (PEP 3333).
    on_the_wire = f"Bearer {tokens}".encode().decode("latin-1")

    response = Client().get(path, headers={"Authorization": on_the_wire})

    assert response.status_code == 200
    if path in PUBLIC_DOORS:
        assert PUBLIC_DOORS[path] in response.content.decode()


def test_an_api_token_with_non_ascii_characters_is_refused_with_401():
    on_the_wire = "Token ключ-доступа".encode().decode("latin-1")
    response = Client(raise_request_exception=False).get(BREAKERS, headers={"Authorization": on_the_wire})
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


# --- 13: thresholds that are not finite or do not fit the columns ---------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"failure_threshold": "NaN"}, "failure_threshold", "must be a finite number"),
        ({"failure_threshold": "Infinity"}, "failure_threshold", "must be a finite number"),
        ({"failure_threshold": "-Infinity"}, "failure_threshold", "must be a finite number"),
        ({"failure_threshold": 2147483648}, "failure_threshold", "between 1 and 2147483647"),
        ({"window_size": 10**30}, "window_size", "between 1 and 2147483647"),
        ({"minimum_requests": "1e400"}, "minimum_requests", "must be a finite number"),
        ({"recovery_timeout": "NaN"}, "recovery_timeout", "must be a finite number"),
        ({"recovery_timeout": "Infinity"}, "recovery_timeout", "must be a finite number"),
        ({"timeout": 1e308}, "timeout", "must be at most 86400 seconds"),
        ({"max_recovery_timeout": 10**400}, "max_recovery_timeout", "must be a finite number"),
        ({"failure_rate_threshold": "nan"}, "failure_rate_threshold", "must be a finite number"),
        ({"slow_call_rate_threshold": [0.5]}, "slow_call_rate_threshold", "must be a number"),
        ({"success_threshold": {"value": 3}}, "success_threshold", "must be a number"),
        ({"half_open_max_calls": True}, "half_open_max_calls", "must be a number"),
    ],
)
def test_thresholds_that_cannot_be_stored_are_400_naming_the_field(root, changes, field, message):
    response = root.patch(f"{BREAKERS}/green_api", {**changes, "reason": "try"}, "application/json")

    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()[field])
    assert get_circuit_breaker("green_api").config.failure_threshold == 5
    assert not AuditRecord.objects.exists()


def _admin_thresholds_form(**values: str) -> dict[str, str]:
    form = dict.fromkeys(OVERRIDE_FIELDS, "")
    form.update({"change_reason": "try", "transitions-TOTAL_FORMS": "0", "transitions-INITIAL_FORMS": "0"})
    return {**form, **values}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"recovery_timeout": "1e308", "max_recovery_timeout": "1e308"}, "recovery_timeout", "at most 86400 seconds"),
        ({"failure_threshold": "2147483648"}, "failure_threshold", "2147483647"),
        ({"recovery_timeout": "NaN"}, "recovery_timeout", "Enter a number"),
        ({"timeout": "Infinity"}, "timeout", "Enter a number"),
    ],
)
def test_the_admin_form_refuses_the_same_thresholds_on_the_field(root, values, field, message):
    root.get("/admin/reliability/circuitbreaker/")
    row = CircuitBreaker.objects.get(name="green_api")

    response = root.post(f"/admin/reliability/circuitbreaker/{row.pk}/change/", _admin_thresholds_form(**values))

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert CircuitBreaker.objects.get(pk=row.pk).config_version == row.config_version
    assert not AuditRecord.objects.exists()
