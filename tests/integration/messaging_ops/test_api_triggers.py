"""/api/v1/triggers/: CRUD through the one validation service, permissions, pagination."""

from __future__ import annotations

import pytest

from messaging.models import Trigger

pytestmark = pytest.mark.django_db

LIST = "/api/v1/triggers/"


def detail(pk) -> str:
    return f"/api/v1/triggers/{pk}/"


BODY = {
    "name": "apology",
    "keywords": ["order", "late"],
    "sentiment_labels": ["negative"],
    "reply_template": "Sorry, {sender_name}!",
    "cooldown_seconds": 300,
}


@pytest.fixture
def editor(messaging_user, api_client_for):
    user = messaging_user("view_trigger", "add_trigger", "change_trigger", "delete_trigger", username="editor")
    return api_client_for(user)


def test_create_read_update_delete(editor):
    created = editor.post(LIST, BODY, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body | {"id": 0, "created_at": "", "updated_at": ""} == {
        "id": 0,
        "name": "apology",
        "enabled": True,
        "keywords": ["order", "late"],
        "regex": "",
        "sentiment_labels": ["negative"],
        "chat_ids": [],
        "reply_template": "Sorry, {sender_name}!",
        "cooldown_seconds": 300,
        "priority": 0,
        "created_at": "",
        "updated_at": "",
    }
    pk = body["id"]

    assert editor.get(detail(pk)).json()["name"] == "apology"
    patched = editor.patch(detail(pk), {"enabled": False, "regex": r"\border\b"}, format="json")
    assert patched.status_code == 200
    assert patched.json()["enabled"] is False and patched.json()["keywords"] == ["order", "late"]
    replaced = editor.put(detail(pk), {"name": "apology", "regex": "late", "reply_template": "Hi"}, format="json")
    assert replaced.status_code == 200
    assert replaced.json()["keywords"] == [] and replaced.json()["regex"] == "late"
    assert editor.delete(detail(pk)).status_code == 204
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"regex": "(unclosed"}, "regex", "not a valid RE2 regular expression"),
        ({"regex": "(?=ahead)"}, "regex", "not a valid RE2 regular expression"),
        ({"reply_template": "Hi {name}"}, "reply_template", "unknown placeholder {name}"),
        ({"reply_template": "{text.__class__}"}, "reply_template", "unknown placeholder"),
        ({"reply_template": ""}, "reply_template", "must be a non-empty string"),
        ({"sentiment_labels": ["furious"]}, "sentiment_labels", "unknown label 'furious'"),
        ({"sentiment_labels": "negative"}, "sentiment_labels", "must be a list of labels"),
        ({"keywords": "order"}, "keywords", "must be a list of strings"),
        ({"keywords": [1, 2]}, "keywords", "every entry must be a non-empty string"),
        ({"keywords": [["nested"]]}, "keywords", "every entry must be a non-empty string"),
        ({"chat_ids": ["79001234567"]}, "chat_ids", "not a chat id"),
        ({"name": ""}, "name", "may not be blank"),
        ({"name": "x" * 101}, "name", "no more than 100 characters"),
        ({"name": 12}, "name", "Not a valid string"),
        ({"enabled": "yes"}, "enabled", "must be true or false"),
        ({"enabled": 1}, "enabled", "must be true or false"),
        ({"cooldown_seconds": -1}, "cooldown_seconds", "greater than or equal to 0"),
        ({"cooldown_seconds": 10**30}, "cooldown_seconds", "less than or equal to 2147483647"),
        ({"cooldown_seconds": "60"}, "cooldown_seconds", "must be an integer"),
        ({"cooldown_seconds": 1.5}, "cooldown_seconds", "must be an integer"),
        ({"cooldown_seconds": True}, "cooldown_seconds", "must be an integer"),
        ({"priority": -(2**40)}, "priority", "greater than or equal to"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(editor, overrides, field, message):
    response = editor.post(LIST, {**BODY, **overrides}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "a\\u0000", "keywords": ["x"], "reply_template": "Hi"}',
        '{"name": "a", "keywords": ["x\\u0000"], "reply_template": "Hi"}',
        '{"name": "a", "keywords": ["\\ud800"], "reply_template": "Hi"}',
        '{"name": "a", "keywords": ' + "[" * 50 + "]" * 50 + ', "reply_template": "Hi"}',
    ],
)
def test_bodies_nothing_can_store_are_400_before_validation(editor, raw):
    response = editor.generic("POST", LIST, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert not Trigger.objects.exists()


def test_a_trigger_with_no_condition_is_a_non_field_error(editor):
    response = editor.post(LIST, {"name": "empty", "reply_template": "Hi"}, format="json")
    assert response.status_code == 400
    assert "set at least one condition" in response.json()["non_field_errors"][0]


def test_a_patch_is_validated_together_with_what_the_trigger_holds(editor, make_trigger):
    trigger = make_trigger("only-keywords", keywords=["order"], regex="", sentiment_labels=[])
    response = editor.patch(detail(trigger.pk), {"keywords": []}, format="json")
    assert response.status_code == 400
    assert "set at least one condition" in response.json()["non_field_errors"][0]
    trigger.refresh_from_db()
    assert trigger.keywords == ["order"]


def test_a_duplicate_name_is_a_400_on_name(editor, make_trigger):
    make_trigger("apology")
    response = editor.post(LIST, BODY, format="json")
    assert response.status_code == 400
    assert "already exists" in response.json()["name"][0]


def test_the_list_is_paginated_by_priority_and_filters_enabled(editor, make_trigger):
    for i in range(55):
        make_trigger(f"t{i:02}", priority=i, enabled=i % 2 == 0)
    first = editor.get(LIST).json()
    assert first["count"] == 55 and len(first["results"]) == 50 and first["next"]
    assert first["results"][0]["name"] == "t54"
    assert len(editor.get(first["next"]).json()["results"]) == 5
    assert editor.get(LIST + "?page_size=500").json()["results"].__len__() == 55  # capped at 200
    enabled = editor.get(LIST + "?enabled=true&page_size=100").json()
    assert enabled["count"] == 28 and all(t["enabled"] for t in enabled["results"])
    assert editor.get(LIST + "?enabled=maybe").status_code == 400
    assert editor.get(LIST + "?page=999").status_code == 404


@pytest.mark.parametrize("pk", ["abc", "99999999999999999999999", "-1", "1.5", "١"])
def test_ids_that_are_not_ids_are_a_json_404(editor, pk):
    response = editor.get(detail(pk))
    assert response.status_code == 404
    assert response.json()["detail"]


def test_each_method_needs_its_model_permission(messaging_user, api_client_for, make_trigger):
    trigger = make_trigger()
    reader = api_client_for(messaging_user("view_trigger", username="reader"))
    assert reader.get(LIST).status_code == 200
    for response in (
        reader.post(LIST, BODY, format="json"),
        reader.patch(detail(trigger.pk), {"enabled": False}, format="json"),
        reader.delete(detail(trigger.pk)),
    ):
        assert response.status_code == 403
        assert "needs the permission" in response.json()["detail"]
    nobody = api_client_for(messaging_user(username="nobody"))
    denied = nobody.get(LIST)
    assert denied.status_code == 403 and "messaging.view_trigger" in denied.json()["detail"]
    assert Trigger.objects.get().enabled is True


def test_anonymous_and_bad_tokens_get_401(client, make_trigger):
    trigger = make_trigger()
    assert client.get(LIST).status_code == 401
    assert client.get(detail(trigger.pk), headers={"Authorization": "Token not-a-token"}).status_code == 401
    assert client.post(LIST, BODY, content_type="application/json").status_code == 401
