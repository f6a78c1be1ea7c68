"""Triggers in the admin: per-field validation through trigger_validate, the enabled toggle."""

from __future__ import annotations

import pytest
from django.urls import reverse

from messaging.models import Trigger

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:messaging_trigger_changelist")
ADD = reverse("admin:messaging_trigger_add")


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


def form(**overrides):
    data = {
        "name": "apology",
        "enabled": "on",
        "priority": "0",
        "keywords": "order\nlate delivery\n",
        "regex": "",
        "sentiment_labels": ["negative"],
        "chat_ids": "",
        "reply_template": "Sorry, {sender_name}!",
        "cooldown_seconds": "60",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_a_trigger_is_created_from_lines_and_checkboxes(root_client):
    response = root_client.post(ADD, form(chat_ids="79001234567@c.us\n\n 79007770000@c.us "))
    assert response.status_code == 302, response.context["adminform"].form.errors
    trigger = Trigger.objects.get(name="apology")
    assert trigger.keywords == ["order", "late delivery"]
    assert trigger.sentiment_labels == ["negative"]
    assert trigger.chat_ids == ["79001234567@c.us", "79007770000@c.us"]
    assert trigger.cooldown_seconds == 60


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"regex": "(unclosed"}, "regex", "not a valid RE2 regular expression"),
        ({"regex": r"(a)\1"}, "regex", "not a valid RE2 regular expression"),
        ({"reply_template": "Hi {name}"}, "reply_template", "unknown placeholder {name}"),
        ({"reply_template": "Hi {sender_name"}, "reply_template", "unbalanced brace"),
        ({"chat_ids": "79001234567"}, "chat_ids", "not a chat id"),
        ({"keywords": "x" * 101}, "keywords", "at most 100 characters"),
    ],
)
def test_each_validation_error_is_shown_under_its_field(root_client, overrides, field, message):
    response = root_client.post(ADD, form(**overrides))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Trigger.objects.exists()


def test_a_trigger_without_any_condition_is_refused_as_a_whole(root_client):
    response = root_client.post(ADD, form(keywords="", sentiment_labels=[], regex=""))
    errors = response.context["adminform"].form.errors
    assert "set at least one condition" in " ".join(errors["__all__"])


def test_the_name_is_unique(root_client, make_trigger):
    make_trigger("apology")
    response = root_client.post(ADD, form())
    assert "name" in response.context["adminform"].form.errors


def test_the_list_toggles_enabled_in_place(root_client, make_trigger):
    trigger = make_trigger("apology", enabled=True)
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(trigger.pk),
        "_save": "Save",
    }  # the checkbox left out: unticked
    response = root_client.post(CHANGELIST, data)
    assert response.status_code == 302
    trigger.refresh_from_db()
    assert trigger.enabled is False


def test_toggling_a_trigger_stored_invalid_says_why_instead_of_failing(root_client, make_trigger):
    trigger = make_trigger("legacy")
    Trigger.objects.filter(pk=trigger.pk).update(regex="(?=lookahead)", enabled=False)  # written around validation
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(trigger.pk),
        "form-0-enabled": "on",
        "_save": "Save",
    }
    response = root_client.post(CHANGELIST, data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "regex: not a valid RE2 regular expression" in page
    trigger.refresh_from_db()
    assert trigger.enabled is False


def test_the_list_shows_conditions_and_the_reply(root_client, make_trigger):
    make_trigger("apology", keywords=["order"], sentiment_labels=["negative"], chat_ids=["79001234567@c.us"])
    page = root_client.get(CHANGELIST).content.decode()
    assert "keywords: order; sentiment: negative; 1 chat" in page
    assert "Sorry, {sender_name}!" in page
