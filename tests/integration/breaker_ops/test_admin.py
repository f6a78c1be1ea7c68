from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from reliability.audit import AuditRecord
from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.config import OVERRIDE_FIELDS
from reliability.breaker.models import BreakerState, BreakerTransition, CircuitBreaker, TransitionReason
from reliability.breaker.services import BreakerActionRefused, breaker_force_open, breaker_normalize
from reliability.breaker_ops import BREAKER_ACTIONS
from reliability.errors import TransientError

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:reliability_circuitbreaker_changelist"


def operate_url(slug: str, *names: str) -> str:
    query = "&".join(f"name={name}" for name in names)
    return f"{reverse('admin:reliability_circuitbreaker_operate', args=[slug])}?{query}"


def change_url(name: str) -> str:
    row = CircuitBreaker.objects.get(name=name)
    return reverse("admin:reliability_circuitbreaker_change", args=[row.pk])


def offered_actions(response) -> set[str]:
    form = response.context["action_form"]  # None when no action is allowed at all
    return {choice for choice, _ in form.fields["action"].choices} if form is not None else set()


def live_state(name: str) -> str:
    return get_circuit_breaker(name).state


def test_changelist_shows_every_configured_breaker_with_its_live_state(client, superuser, settings):
    breaker_force_open(name="deepseek", actor=superuser, channel="admin", reason="provider outage")
    client.force_login(superuser)

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    body = response.content.decode()
    for name in settings.CIRCUIT_BREAKER_CONFIGS:
        assert f">{name}<" in body
    assert 'class="breaker-badge breaker-forced_open"' in body
    assert 'class="breaker-badge breaker-closed"' in body
    assert CircuitBreaker.objects.filter(name__in=settings.CIRCUIT_BREAKER_CONFIGS).count() == len(
        settings.CIRCUIT_BREAKER_CONFIGS
    )


def test_badge_follows_the_shared_store_not_the_stale_row(client, superuser):
    breaker_force_open(name="green_api", actor=superuser, channel="admin")
    # Another process's view of the row may lag; the page must show what calls obey.
    CircuitBreaker.objects.filter(name="green_api").update(state=BreakerState.CLOSED)
    client.force_login(superuser)

    body = client.get(reverse(CHANGELIST)).content.decode()

    assert 'class="breaker-badge breaker-forced_open"' in body


def test_change_page_shows_effective_config_and_history(client, superuser):
    breaker_force_open(name="green_api", actor=superuser, channel="admin", reason="maintenance window")
    client.force_login(superuser)

    response = client.get(change_url("green_api"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Transition history" in body
    assert "maintenance window" in body
    assert "Forced open" in body
    assert "Effective configuration" in body
    assert "<th>failure_threshold</th><td>5</td><td>settings</td>" in body
    # Every action the superuser may take is a button on the page.
    for slug in ("reset", "force-open", "disable", "normal"):
        assert f'class="breaker-action-{slug}"' in body


def test_actions_are_offered_only_with_their_permission(client, viewer, operator_factory):
    client.force_login(viewer)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert not {"reset_selected", "force_open_selected", "disable_selected", "normalize_selected"} & offered_actions(
        response
    )

    resetter = operator_factory("view_circuitbreaker", "reset_circuitbreaker", username="resetter")
    client.force_login(resetter)
    offered = offered_actions(client.get(reverse(CHANGELIST)))
    assert "reset_selected" in offered
    assert "force_open_selected" not in offered


def test_confirmation_view_is_forbidden_without_the_permission(client, viewer, superuser):
    breaker_force_open(name="green_api", actor=superuser, channel="admin")
    client.force_login(viewer)

    assert client.get(operate_url("reset", "green_api")).status_code == 403
    assert client.post(operate_url("reset", "green_api"), {"name": ["green_api"]}).status_code == 403

    assert live_state("green_api") == BreakerState.FORCED_OPEN
    assert not AuditRecord.objects.filter(action="circuit_breaker.reset").exists()


def test_confirmation_view_sends_anonymous_users_to_the_login_page(client):
    response = client.get(operate_url("reset", "green_api"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_change_page_buttons_follow_permissions(client, operator_factory, superuser):
    client.force_login(operator_factory("view_circuitbreaker", "force_open_circuitbreaker", username="forcer"))
    client.get(reverse(CHANGELIST))  # creates the rows

    body = client.get(change_url("green_api")).content.decode()

    assert 'class="breaker-action-force-open"' in body
    assert 'class="breaker-action-reset"' not in body


def test_bulk_action_leads_to_a_confirmation_that_changes_nothing(client, operator, superuser):
    for name in ("green_api", "deepseek"):
        breaker_force_open(name=name, actor=superuser, channel="admin")
    transitions_before = BreakerTransition.objects.count()
    audits_before = AuditRecord.objects.count()
    client.force_login(operator)
    rows = CircuitBreaker.objects.filter(name__in=["green_api", "deepseek"])

    response = client.post(
        reverse(CHANGELIST),
        {"action": "reset_selected", "_selected_action": [row.pk for row in rows]},
    )
    assert response.status_code == 302
    confirmation = client.get(response["Location"])

    assert confirmation.status_code == 200
    body = confirmation.content.decode()
    assert "2 circuit breakers will be closed with an empty window" in body
    assert "green_api" in body and "deepseek" in body
    assert live_state("green_api") == BreakerState.FORCED_OPEN
    assert live_state("deepseek") == BreakerState.FORCED_OPEN
    assert BreakerTransition.objects.count() == transitions_before
    assert AuditRecord.objects.count() == audits_before


def test_confirmed_reset_closes_the_breakers_and_records_who_and_why(client, operator, superuser):
    for name in ("green_api", "deepseek"):
        breaker_force_open(name=name, actor=superuser, channel="admin")
    client.force_login(operator)

    response = client.post(
        operate_url("reset", "green_api", "deepseek"),
        {"name": ["green_api", "deepseek"], "reason": "provider recovered"},
        follow=True,
    )

    assert response.status_code == 200
    assert "2 circuit breakers reset: deepseek, green_api." in [str(m) for m in response.context["messages"]]
    for name in ("green_api", "deepseek"):
        assert live_state(name) == BreakerState.CLOSED
        transition = BreakerTransition.objects.filter(breaker__name=name).first()
        assert (transition.from_state, transition.to_state) == (BreakerState.FORCED_OPEN, BreakerState.CLOSED)
        assert transition.reason == TransitionReason.OPERATOR
        assert transition.actor == operator
        assert transition.note == "provider recovered"
        audit = AuditRecord.objects.get(action="circuit_breaker.reset", target_id=name)
        assert audit.actor_label == "admin:operator"
        assert audit.reason == "provider recovered"


def test_button_on_the_change_page_forces_one_breaker_open_and_returns_there(client, operator):
    client.force_login(operator)
    client.get(reverse(CHANGELIST))

    confirmation = client.get(operate_url("force-open", "green_api") + "&from=change")
    assert "1 circuit breaker will be forced open" in confirmation.content.decode()
    response = client.post(operate_url("force-open", "green_api"), {"name": ["green_api"], "from": "change"})

    assert response.status_code == 302
    assert response["Location"] == change_url("green_api")
    assert live_state("green_api") == BreakerState.FORCED_OPEN
    assert AuditRecord.objects.filter(action="circuit_breaker.force_open", target_id="green_api").count() == 1


def test_back_to_normal_skips_breakers_an_operator_did_not_change(client, operator, superuser):
    breaker_force_open(name="green_api", actor=superuser, channel="admin")
    client.force_login(operator)

    confirmation = client.get(operate_url("normal", "green_api", "deepseek"))
    assert "1 circuit breaker will be back to normal" in confirmation.content.decode()
    response = client.post(
        operate_url("normal", "green_api", "deepseek"), {"name": ["green_api", "deepseek"]}, follow=True
    )

    notes = [str(m) for m in response.context["messages"]]
    assert "1 circuit breaker returned to normal: green_api." in notes
    assert any(note.startswith("Skipped: circuit breaker 'deepseek' is closed") for note in notes)
    assert live_state("green_api") == BreakerState.CLOSED
    assert not AuditRecord.objects.filter(action="circuit_breaker.normalize", target_id="deepseek").exists()


@pytest.mark.parametrize("state", ["closed", "open", "forced_open", "disabled", "metrics_only"])
def test_back_to_normal_skips_on_the_page_exactly_what_the_service_refuses(client, operator, superuser, state):
    cb = get_circuit_breaker("green_api")
    if state == "open":
        for _ in range(cb.config.failure_threshold):
            with pytest.raises(TransientError):
                cb.call(lambda: (_ for _ in ()).throw(TransientError("down")))
    elif state != "closed":
        slug = {"forced_open": "force-open", "disabled": "disable", "metrics_only": "metrics-only"}[state]
        BREAKER_ACTIONS[slug].service(name="green_api", actor=superuser, channel="admin")
    assert live_state("green_api") == state
    client.force_login(operator)

    page = client.get(operate_url("normal", "green_api")).content.decode()
    try:
        breaker_normalize(name="green_api", actor=operator, channel="admin")
    except BreakerActionRefused as refused:
        assert f"unchanged (skipped: {str(refused).split(' is ', 1)[1]})" in page
        assert state in ("closed", "open")
    else:
        assert "unchanged (skipped" not in page
        assert state in ("forced_open", "disabled", "metrics_only")


def test_confirmation_for_an_unknown_breaker_is_404(client, operator):
    client.force_login(operator)
    assert client.get(operate_url("reset", "no_such_breaker")).status_code == 404


def _config_form(**overrides):
    data = {name: "" for name in OVERRIDE_FIELDS}
    data.update(
        {
            "change_reason": "",
            "transitions-TOTAL_FORMS": "0",
            "transitions-INITIAL_FORMS": "0",
            "transitions-MIN_NUM_FORMS": "0",
            "transitions-MAX_NUM_FORMS": "1000",
        }
    )
    data.update({key: str(value) for key, value in overrides.items()})
    return data


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"failure_threshold": -1}, "failure_threshold", "greater than or equal to 0"),
        ({"failure_threshold": 0}, "failure_threshold", "must be at least 1"),
        ({"recovery_timeout": -5}, "recovery_timeout", "must be more than 0 seconds"),
        ({"failure_rate_threshold": 1.5}, "failure_rate_threshold", "at most 1"),
        ({"minimum_requests": 200, "window_size": 100}, "minimum_requests", "must not exceed window_size (100)"),
    ],
)
def test_invalid_thresholds_are_refused_on_the_field(client, superuser, overrides, field, message):
    client.force_login(superuser)
    client.get(reverse(CHANGELIST))
    version = CircuitBreaker.objects.get(name="green_api").config_version

    response = client.post(change_url("green_api"), _config_form(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    row = CircuitBreaker.objects.get(name="green_api")
    assert row.config_version == version
    assert all(getattr(row, name) is None for name in overrides)
    assert not AuditRecord.objects.filter(action="circuit_breaker.update_config").exists()


def test_saved_thresholds_go_through_the_service(client, superuser):
    client.force_login(superuser)
    client.get(reverse(CHANGELIST))
    version = CircuitBreaker.objects.get(name="green_api").config_version

    response = client.post(
        change_url("green_api"), _config_form(failure_threshold=7, window_size=50, change_reason="noisy provider")
    )

    assert response.status_code == 302
    row = CircuitBreaker.objects.get(name="green_api")
    assert (row.failure_threshold, row.window_size) == (7, 50)
    assert row.config_version > version
    assert get_circuit_breaker("green_api").config.failure_threshold == 7
    audit = AuditRecord.objects.get(action="circuit_breaker.update_config", target_id="green_api")
    assert audit.reason == "noisy provider"
    assert audit.detail["after"] == {"failure_threshold": 7, "window_size": 50}


def test_viewer_cannot_edit_thresholds(client, viewer):
    client.force_login(viewer)
    client.get(reverse(CHANGELIST))

    response = client.post(change_url("green_api"), _config_form(failure_threshold=7))

    assert response.status_code == 403
    assert CircuitBreaker.objects.get(name="green_api").failure_threshold is None


class _FormFields(HTMLParser):
    """What a browser would submit from a page's inputs and textareas (enough for this form)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "input" and attributes.get("name") and attributes.get("type") not in ("submit", "checkbox"):
            self.data[attributes["name"]] = attributes.get("value") or ""
        elif tag == "textarea":
            self._textarea = attributes["name"]
            self.data[self._textarea] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.data[self._textarea] += data.strip()

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None


def test_thresholds_save_from_the_rendered_form_of_a_breaker_with_history(client, superuser):
    for _ in range(3):
        breaker_force_open(name="deepseek", actor=superuser, channel="admin")
    client.force_login(superuser)
    client.get(reverse(CHANGELIST))
    fields = _FormFields()
    fields.feed(client.get(change_url("deepseek")).content.decode())
    assert fields.data["transitions-INITIAL_FORMS"] == "3"

    response = client.post(change_url("deepseek"), {**fields.data, "failure_rate_threshold": "0.25"})

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert get_circuit_breaker("deepseek").config.failure_rate_threshold == 0.25
    assert BreakerTransition.objects.filter(breaker__name="deepseek").count() == 3
    assert live_state("deepseek") == BreakerState.FORCED_OPEN
