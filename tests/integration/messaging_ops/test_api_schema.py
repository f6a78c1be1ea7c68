"""The messaging API's OpenAPI schema is typed end to end, and its answers are never cached."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

SCHEMA = "/api/schema/?format=json"


@pytest.fixture
def schema(client, staff_user):
    client.force_login(staff_user)
    return client.get(SCHEMA).json()


def ref(component: str) -> dict:
    return {"$ref": f"#/components/schemas/{component}"}


def body(operation: dict, status: str) -> dict:
    return operation["responses"][status]["content"]["application/json"]["schema"]


@pytest.mark.parametrize(
    ("path", "method", "status", "component"),
    [
        ("/api/v1/messages/", "get", "200", "PaginatedOutboundMessageList"),
        ("/api/v1/messages/", "post", "202", "OutboundMessage"),
        ("/api/v1/messages/{message_id}/", "get", "200", "OutboundMessage"),
        ("/api/v1/sentiment/", "post", "200", "Sentiment"),
        ("/api/v1/triggers/", "get", "200", "PaginatedTriggerList"),
        ("/api/v1/triggers/", "post", "201", "Trigger"),
        ("/api/v1/triggers/{id}/", "patch", "200", "Trigger"),
        ("/api/v1/triggers/{id}/execute/", "post", "202", "OutboundMessage"),
        ("/api/v1/triggers/{id}/execute/", "post", "409", "Conflict"),
        ("/api/v1/messages/", "post", "400", "FieldErrors"),
        ("/api/v1/messages/", "post", "401", "Error"),
    ],
)
def test_every_answer_has_a_typed_schema(schema, path, method, status, component):
    assert body(schema["paths"][path][method], status) == ref(component)
    properties = schema["components"]["schemas"][component]["properties"]
    assert all("type" in p or "$ref" in p or "allOf" in p for p in properties.values()), properties


@pytest.mark.parametrize(
    ("path", "method", "component", "fields"),
    [
        ("/api/v1/messages/", "post", "MessageSend", {"chat_id", "phone", "text", "idempotency_key"}),
        ("/api/v1/sentiment/", "post", "SentimentRequest", {"text"}),
        ("/api/v1/triggers/{id}/execute/", "post", "TriggerExecute", {"chat_id", "phone", "text", "force"}),
        ("/api/v1/triggers/", "post", "Trigger", {"name", "keywords", "regex", "reply_template"}),
    ],
)
def test_request_bodies_are_typed(schema, path, method, component, fields):
    request = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    assert request["$ref"].rsplit("/", 1)[-1] in (component, f"{component}Request")
    declared = schema["components"]["schemas"][request["$ref"].rsplit("/", 1)[-1]]["properties"]
    assert fields <= set(declared)
    assert declared.get("keywords", {"type": "array"})["type"] == "array"


def test_answers_are_never_cached(messaging_user, api_client_for, make_outbound):
    row = make_outbound()
    client = api_client_for(messaging_user("view_outboundmessage", username="reader"))
    for response in (client.get(f"/api/v1/messages/{row.pk}"), client.get("/api/v1/messages/999999")):
        assert "no-store" in response["Cache-Control"]
