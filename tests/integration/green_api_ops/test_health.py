"""The Green API health check: live state (rate-limited), the last recorded events, no token shown."""

from __future__ import annotations

import json
import time

import pytest

from health.checks import ALL_CHECKS, HealthChecker
from messaging.services.pipeline import webhook_event_process
from tests.httpserver import Reply
from tests.integration.messaging.conftest import GREEN_API_TOKEN
from tests.integration.outbox.rows import stored
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

STATE = "/getStateInstance/"


def check():
    only = tuple(c for c in ALL_CHECKS if c.name == "green_api")
    return HealthChecker(only, cache_seconds=0).check_all_dependencies().checks["green_api"]


def test_an_authorized_instance_passes_and_shows_its_state(green_api):
    green_api.queue(Reply(json={"stateInstance": "authorized"}), path=STATE)
    result = check()
    assert (result.status, result.critical) == ("pass", False)
    assert result.observed_value["stateInstance"] == "authorized"


@pytest.mark.django_db(transaction=True)  # the check reads in its own thread, on its own connection
def test_a_not_authorized_instance_and_a_recent_quota_event_warn_with_the_last_events(green_api, settings):
    green_api.queue(Reply(json={"stateInstance": "notAuthorized"}), path=STATE)
    now = int(time.time())
    for body in (bodies.state_changed("notAuthorized", timestamp=now - 60), bodies.quota_exceeded(timestamp=now)):
        webhook_event_process(event_id=stored(body).pk)
    result = check()
    assert result.status == "warn"
    assert "instance state is notAuthorized" in result.output
    assert "quota exceeded at" in result.output
    assert result.observed_value["last_state_changed"]["state"] == "notAuthorized"
    assert result.observed_value["last_quota_exceeded"]["state"] == "CORRESPONDENTS_QUOTA_EXCEEDED"


def test_green_api_is_asked_at_most_once_a_second_however_often_health_is_read(green_api):
    green_api.default = Reply(json={"stateInstance": "authorized"})
    for _ in range(5):
        assert check().status == "pass"
    assert green_api.count(STATE) == 1
    time.sleep(1.1)
    check()
    assert green_api.count(STATE) == 2


def test_a_failing_green_api_fails_the_check_without_showing_the_token(green_api, client, staff_user):
    echo = {"statusCode": 500, "path": f"/waInstance1101000042/getStateInstance/{GREEN_API_TOKEN}"}
    green_api.default = Reply(status=500, json=echo)
    result = check()
    assert result.status == "fail"
    client.force_login(staff_user)
    from health.checks import clear_cache

    clear_cache()
    body = client.get("/health/detailed").json()
    assert body["checks"]["green_api"][0]["status"] == "fail"
    assert body["status"] != "fail", "a non-critical check never makes the service unready"
    assert GREEN_API_TOKEN not in json.dumps(body)
