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
from django_celery_beat.models import IntervalSchedule, PeriodicTask

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
def _fresh_breakers(redis_client):
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


# --- 14: NUL characters, and admin ids of the wrong type -------------------------------------

ENCODED_NUL_REQUESTS = [
    ("get", f"{BREAKERS}/%00"),
    ("patch", f"{BREAKERS}/%00"),
    ("post", f"{BREAKERS}/%00/reset"),
    ("post", f"{BREAKERS}/%00/force-open"),
    ("post", f"{BREAKERS}/green_api%00/normal"),
    ("post", "/admin/reliability/dlq/%00/retry"),
    ("get", "/admin/reliability/circuitbreaker/operate/reset/?name=%00"),
    ("get", "/admin/reliability/circuitbreaker/operate/force-open/?name=green_api%00"),
    ("get", "/admin/reliability/deadletter/confirm/replay/?fingerprint=%00"),
    ("get", "/admin/reliability/deadletter/confirm/discard/?ids=1&reason=%00"),
    ("get", "/admin/reliability/deadletter/?status__exact=%00"),
    ("get", "/admin/reliability/deadletter/?message_type__exact=x%00y"),
    ("get", "/admin/reliability/deadletter/?fingerprint=%00"),
    ("get", "/admin/reliability/deadletter/?q=%00"),
    ("get", "/admin/reliability/circuitbreaker/?q=%00"),
    ("get", "/admin/reliability/auditrecord/?q=%00"),
    ("get", "/admin/auth/user/?username__exact=%00"),
    ("get", "/admin/django_celery_beat/periodictask/?q=%00"),
    ("get", "/admin/reliability/deadletter/%00/change/"),
    ("get", "/api/schema/?version=%00"),
    ("get", "/health/dlq?x=%00"),
    ("get", "/metrics?%00=1"),
]


@pytest.mark.parametrize(("method", "url"), ENCODED_NUL_REQUESTS)
def test_a_nul_in_the_path_or_query_string_is_400(root, method, url):
    response = getattr(root, method)(url)

    assert response.status_code == 400
    assert "NUL characters are not allowed" in detail(response)


@pytest.mark.parametrize(
    ("url", "form"),
    [
        ("/admin/reliability/circuitbreaker/operate/reset/", {"name": "green_api", "reason": "closed\x00"}),
        ("/admin/reliability/circuitbreaker/operate/reset/", {"name": "\x00"}),
        ("/admin/reliability/deadletter/confirm/discard/", {"ids": "LETTER", "reason": "a\x00b", "_confirm": "1"}),
        ("/admin/reliability/deadletter/confirm/resolve/", {"ids": "LETTER", "reason": "\x00", "_dry_run": "1"}),
        ("/admin/reliability/deadletter/", {"action": "replay_selected", "_selected_action": "\x00"}),
        (f"{BREAKERS}/green_api/reset", {"reason": "\x00"}),
        ("/admin/login/", {"username": "root\x00", "password": "x"}),
    ],
)
def test_a_nul_in_form_data_is_400(root, letter, url, form):
    form = {key: value.replace("LETTER", str(letter.pk)) for key, value in form.items()}

    response = root.post(url, form)

    assert response.status_code == 400
    assert "NUL characters are not allowed in the form data" in detail(response)
    assert DeadLetter.objects.get(pk=letter.pk).status == "pending"
    assert not AuditRecord.objects.exists()


def test_a_nul_in_a_header_or_cookie_is_400(root):
    assert root.get("/admin/", headers={"X-Request-ID": "abc\x00def"}).status_code == 400
    escaped_cookie = {"Cookie": 'sessionid="\\000\\000\\000\\000\\000\\000\\000\\000"'}
    response = Client(raise_request_exception=False).get("/admin/reliability/deadletter/", headers=escaped_cookie)
    assert response.status_code == 400
    assert "cookies" in detail(response)


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "a\x00b"},
        {"failure_threshold": 3, "reason": "\x00"},
        {"failure_threshold\x00": 3},
        {"failure_threshold": "3\x00"},
    ],
)
def test_a_nul_in_a_json_body_is_400(root, body):
    for method, url in (("patch", f"{BREAKERS}/green_api"), ("post", f"{BREAKERS}/green_api/reset")):
        response = getattr(root, method)(url, body, "application/json")
        assert response.status_code == 400, (url, response.content)
        assert "NUL characters (\\\\u0000) are not allowed" in json.dumps(response.json())
    assert not AuditRecord.objects.exists()


@pytest.fixture
def periodic_task():
    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    return PeriodicTask.objects.create(name="bad input test", task="cleanup_old_dlq_messages", interval=every)


@pytest.mark.parametrize(
    ("changelist", "action"),
    [
        ("/admin/reliability/deadletter/", "replay_selected"),
        ("/admin/reliability/deadletter/", "discard_selected"),
        ("/admin/reliability/circuitbreaker/", "reset_selected"),
        ("/admin/auth/user/", "delete_selected"),
        ("/admin/django_celery_beat/periodictask/", "delete_selected"),
    ],
)
@pytest.mark.parametrize("selected", [["abc"], ["1", "abc"], ["1.5"], [""]])
def test_admin_ids_of_the_wrong_type_are_400_not_500(root, letter, periodic_task, changelist, action, selected):
    response = root.post(changelist, {"action": action, "_selected_action": selected})

    assert response.status_code == 400
    assert "is not a valid" in detail(response)
    assert DeadLetter.objects.get(pk=letter.pk).status == "pending"
    assert PeriodicTask.objects.filter(pk=periodic_task.pk).exists()


def test_admin_ids_beyond_the_column_range_select_nothing(root, letter):
    response = root.post(
        "/admin/reliability/deadletter/", {"action": "replay_selected", "_selected_action": ["99999999999999999999"]}
    )
    assert response.status_code < 500
    assert DeadLetter.objects.get(pk=letter.pk).status == "pending"


def test_valid_admin_ids_still_reach_the_action(root, letter):
    response = root.post("/admin/reliability/deadletter/", {"action": "replay_selected", "_selected_action": letter.pk})
    assert response.status_code == 200
    assert "Replay 1 dead letter?" in response.content.decode()


# --- 15: deep JSON, and what else the strict JSON parser refuses --------------------------

DEEP_BODIES = {
    "100k arrays": "[" * 100_000,
    "100k objects": '{"a":' * 100_000,
    "closed but 40 deep": "[" * 40 + "]" * 40,
    "deep under a key": '{"reason": ' + "[" * 5_000 + "]" * 5_000 + "}",
}
JSON_DOORS = [
    ("patch", f"{BREAKERS}/green_api"),
    ("post", f"{BREAKERS}/green_api/reset"),
    ("post", f"{BREAKERS}/green_api/force-open"),
    ("post", f"{BREAKERS}/green_api/disable"),
    ("post", f"{BREAKERS}/green_api/metrics-only"),
    ("post", f"{BREAKERS}/green_api/normal"),
]


@pytest.mark.parametrize(("method", "url"), JSON_DOORS)
@pytest.mark.parametrize("body", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
def test_deeply_nested_json_is_400_on_every_json_door(root, method, url, body):
    response = getattr(root, method)(url, body, "application/json")

    assert response.status_code == 400
    assert "nested deeper than 32 levels" in response.json()["detail"]
    assert not AuditRecord.objects.exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_json_number_literals_are_refused(root, literal):
    response = root.patch(f"{BREAKERS}/green_api", f'{{"recovery_timeout": {literal}}}', "application/json")

    assert response.status_code == 400
    body = json.dumps(response.json())
    assert "recovery_timeout" in body or "not valid JSON" in body or "too large" in body
    assert not CircuitBreaker.objects.filter(name="green_api", recovery_timeout__isnull=False).exists()


def test_the_retry_door_does_not_read_its_body_so_deep_json_cannot_hurt_it(root, letter):
    response = root.post(f"/admin/reliability/dlq/{letter.pk + 1000}/retry", "[" * 100_000, "application/json")
    assert response.status_code == 404


def test_json_a_little_less_deep_is_still_accepted(root):
    reason = json.dumps("x")
    for _ in range(29):
        reason = f"[{reason}]"
    response = root.post(
        f"{BREAKERS}/green_api/reset", '{"reason": "fine", "extra": ' + reason + "}", "application/json"
    )
    assert response.status_code == 200


def test_a_json_body_larger_than_the_upload_limit_is_400(root, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    response = root.post(f"{BREAKERS}/green_api/reset", {"reason": "x" * 2_000}, "application/json")
    assert response.status_code == 400
    assert not AuditRecord.objects.exists()
