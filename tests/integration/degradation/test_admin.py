"""The admin's degradation page, its *Set level* and *Clear override* pages, and their permission."""

from __future__ import annotations

import pytest

from reliability.audit import AuditRecord
from reliability.degradation.models import DegradationEvent
from reliability.degradation.selectors import degradation_status
from reliability.degradation.services import degradation_evaluate

pytestmark = pytest.mark.django_db

STATE = "/admin/reliability/degradationstate/"
SET = f"{STATE}set-level/"
CLEAR = f"{STATE}clear/"


@pytest.fixture
def logged_in(client, operator):
    client.force_login(operator)
    return client


def test_the_list_is_the_state_page_with_the_conditions_gates_and_history(logged_in, committed):
    with committed():
        degradation_evaluate()
    response = logged_in.get(STATE, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "breaker_open:deepseek" in page and "webhook_processing" in page
    assert 'class="degradation-set-level"' in page
    assert "No change yet." in page
    assert "rules (automatic)" in page


def test_setting_the_level_shows_a_confirmation_first_then_sets_it(logged_in, committed):
    form = {"level": "severe", "reason": "db failover", "expires_in": "30m"}
    confirm = logged_in.post(SET, form)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "Set the level to severe: are you sure?" in page
    assert "These features stop: ai_sentiment, auto_replies, outbound_sending, reports." in page
    assert "for 30m (until about 20" in page
    assert DegradationEvent.objects.count() == 0
    with committed():
        done = logged_in.post(SET, {**form, "confirmed": "yes"}, follow=True)
    assert done.status_code == 200
    assert "Degradation level set to severe for 30m" in done.content.decode()
    status = degradation_status()
    assert (status["level"], status["source"], status["set_by"]) == ("severe", "operator", "admin:operator")
    audit = AuditRecord.objects.get()
    assert (audit.action, audit.actor_label, audit.reason) == ("degradation.set_level", "admin:operator", "db failover")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"level": "purple", "reason": "x"}, "Select a valid choice"),
        ({"level": "minor", "reason": ""}, "This field is required."),
        ({"level": "minor", "reason": "x", "expires_in": "-5m"}, "not a duration in the future"),
        ({"level": "minor", "reason": "x", "expires_in": "NaN"}, "not a duration in the future"),
    ],
)
def test_bad_input_shows_the_form_again_with_the_error(logged_in, form, message):
    response = logged_in.post(SET, {**form, "confirmed": "yes"})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert DegradationEvent.objects.count() == 0


def test_clearing_confirms_then_returns_the_level_to_the_rules(logged_in, committed):
    with committed():
        logged_in.post(SET, {"level": "critical", "reason": "drill", "confirmed": "yes"})
    page = logged_in.get(CLEAR).content.decode()
    assert "set by admin:operator: drill" in page
    assert "Yes, clear the override" in page
    with committed():
        done = logged_in.post(CLEAR, {"reason": "drill over"}, follow=True)
    assert "Override cleared" in done.content.decode()
    assert degradation_status()["source"] == "auto"
    assert AuditRecord.objects.order_by("id").last().action == "degradation.clear"


def test_clearing_with_nothing_to_clear_says_so(logged_in):
    done = logged_in.post(CLEAR, {"reason": "tidy"}, follow=True)
    assert "Nothing cleared: no operator override is in force" in done.content.decode()


def test_the_operator_pages_need_the_permission(client, viewer):
    client.force_login(viewer)
    page = client.get(STATE, follow=True)
    assert page.status_code == 200
    assert "degradation-set-level" not in page.content.decode()
    for url in (SET, CLEAR):
        assert client.get(url).status_code == 403
        assert client.post(url, {"level": "minor", "reason": "x", "confirmed": "yes"}).status_code == 403
    assert DegradationEvent.objects.count() == 0


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get(SET)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
