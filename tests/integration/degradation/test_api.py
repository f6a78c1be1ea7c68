"""The ops API: POST /admin/reliability/degradation/set-level (query string or JSON), clear, and the report."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from reliability.audit import AuditRecord
from reliability.degradation.models import DegradationEvent
from reliability.degradation.selectors import degradation_status

pytestmark = pytest.mark.django_db

BASE = "/admin/reliability/degradation"
SET = f"{BASE}/set-level"
CLEAR = f"{BASE}/clear"
VALID = "valid levels: normal, minor, moderate, severe, critical"


class Committing:
    """An API client whose requests run their after-commit work (publishing the state) as in production."""

    def __init__(self, client: APIClient, committed) -> None:
        self.client = client
        self.committed = committed

    def post(self, *args, **kwargs):
        with self.committed():
            return self.client.post(*args, **kwargs)


@pytest.fixture
def api(operator, committed):
    client = APIClient()
    client.force_authenticate(operator)
    return Committing(client, committed)


def test_the_seed_call_sets_the_level_until_cleared(api):
    response = api.post(f"{SET}?level=moderate&reason=maintenance")
    assert response.status_code == 200, response.content
    body = response.json()["degradation"]
    assert (body["level"], body["level_value"], body["source"], body["reason"]) == (
        "moderate",
        2,
        "operator",
        "maintenance",
    )
    assert (body["set_by"], body["expires_at"]) == ("api:operator", None)
    assert body["features"]["ai_sentiment"] is False and body["features"]["auto_replies"] is True
    assert response.json()["events"][0]["to_level"] == "moderate"
    assert AuditRecord.objects.get().action == "degradation.set_level"


@pytest.mark.parametrize(("expires_in", "seconds"), [("30m", 1800), ("2h", 7200), ("900", 900), (900, 900)])
def test_an_expiry_may_be_given_in_the_query_string_or_a_json_body(api, expires_in, seconds):
    if isinstance(expires_in, str):
        response = api.post(f"{SET}?level=severe&reason=failover&expires_in={expires_in}")
    else:
        response = api.post(SET, {"level": "severe", "reason": "failover", "expires_in": expires_in}, format="json")
    assert response.status_code == 200, response.content
    state = DegradationEvent.objects.get()
    assert abs((state.expires_at - state.created_at).total_seconds() - seconds) < 1


def test_clear_returns_the_level_to_the_rules(api):
    api.post(f"{SET}?level=critical&reason=drill")
    response = api.post(CLEAR, {"reason": "drill over"}, format="json")
    assert response.status_code == 200
    assert response.json()["degradation"]["source"] == "auto"
    assert response.json()["degradation"]["level"] == "normal"
    assert [record.action for record in AuditRecord.objects.order_by("id")] == [
        "degradation.set_level",
        "degradation.clear",
    ]


def test_clear_without_an_override_is_409(api):
    response = api.post(f"{CLEAR}?reason=tidy")
    assert response.status_code == 409
    assert "no operator override is in force" in response.json()["detail"]


@pytest.mark.parametrize(
    ("url", "body", "field", "message"),
    [
        (f"{SET}?level=moderate", None, "reason", "This field is required."),
        (f"{SET}?level=moderate&reason=", None, "reason", "This field may not be blank."),
        (f"{SET}?level=moderate&reason=%20%20", None, "reason", "This field may not be blank."),
        (f"{SET}?level=purple&reason=x", None, "level", VALID),
        (f"{SET}?reason=x", None, "level", "This field is required."),
        (SET, {"level": 3, "reason": "x"}, "level", VALID),
        (SET, {"level": ["minor"], "reason": "x"}, "level", VALID),
        (f"{SET}?level=minor&reason=x&expires_in=-5", None, "expires_in", "not a duration in the future"),
        (f"{SET}?level=minor&reason=x&expires_in=0", None, "expires_in", "not a duration in the future"),
        (f"{SET}?level=minor&reason=x&expires_in=NaN", None, "expires_in", "not a duration in the future"),
        (f"{SET}?level=minor&reason=x&expires_in=9999999999", None, "expires_in", "at most 30 days"),
        (f"{SET}?level=minor&reason=x&expires_in=tomorrow", None, "expires_in", "not a duration in the future"),
        (SET, {"level": "minor", "reason": "x", "expires_in": -1.5}, "expires_in", "not a duration in the future"),
        (SET, {"level": "minor", "reason": "x", "expires_in": True}, "expires_in", "not a duration in the future"),
        (SET, {"level": "minor", "reason": "x", "expire_in": "5m"}, "expire_in", "is not a field of this request"),
        (f"{SET}?level=minor&level=severe&reason=x", None, "level", "more than once"),
        (f"{SET}?level=minor&reason=x", {"level": "severe"}, "level", "in the query string and the body"),
        (SET, ["minor"], "detail", "the body must be a JSON object"),
        (CLEAR, None, "reason", "This field is required."),
    ],
)
def test_bad_input_is_400_naming_the_field_and_changes_nothing(api, url, body, field, message):
    response = api.post(url, body, format="json") if body is not None else api.post(url)
    assert response.status_code == 400, response.content
    problem = response.json()[field]
    assert message in (problem if isinstance(problem, str) else " ".join(problem))
    assert (DegradationEvent.objects.count(), AuditRecord.objects.count()) == (0, 0)
    assert degradation_status()["level"] == "normal"


def test_a_nan_literal_in_the_body_is_refused_by_the_parser(api):
    response = api.post(SET, b'{"level": "minor", "reason": "x", "expires_in": NaN}', content_type="application/json")
    assert response.status_code == 400
    assert DegradationEvent.objects.count() == 0


def test_setting_needs_the_permission(viewer, staff_user):
    for user in (viewer, staff_user):
        client = APIClient()
        client.force_authenticate(user)
        response = client.post(f"{SET}?level=minor&reason=x")
        assert response.status_code == 403
        assert "reliability.set_degradation_level" in response.json()["detail"]
    assert APIClient().post(f"{SET}?level=minor&reason=x").status_code == 401


def test_staff_read_the_report_with_the_conditions(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    response = client.get(BASE)
    assert response.status_code == 200
    body = response.json()
    assert body["degradation"]["level"] == "normal"
    assert body["events"] == []
    assert "no-store" in response["Cache-Control"]


def test_the_answers_have_a_typed_schema(client, staff_user):
    client.force_login(staff_user)
    schema = client.get("/api/schema/?format=json").json()
    for path in (SET, CLEAR):
        answer = schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer == {"$ref": "#/components/schemas/DegradationReport"}
    status = schema["components"]["schemas"]["DegradationStatus"]["properties"]
    assert status["level"] == {"$ref": "#/components/schemas/DegradationLevelEnum"}
    assert schema["components"]["schemas"]["DegradationLevelEnum"]["enum"] == [
        "normal",
        "minor",
        "moderate",
        "severe",
        "critical",
    ]
