from __future__ import annotations

from types import SimpleNamespace

import structlog

from config.celery import _bind_request_id, _carry_request_id
from config.request_id import bind_request_id, current_request_id


def test_a_response_carries_the_callers_request_id(client):
    response = client.get("/health/live", headers={"X-Request-ID": "lb-0123456789abcdef"})
    assert response["X-Request-ID"] == "lb-0123456789abcdef"


def test_a_malformed_request_id_is_replaced(client):
    response = client.get("/health/live", headers={"X-Request-ID": "<script>"})
    assert response["X-Request-ID"] != "<script>"
    assert len(response["X-Request-ID"]) == 32


def test_the_request_id_travels_in_task_headers_and_is_bound_in_the_worker():
    bind_request_id("req-abcdef123456")
    headers: dict = {}
    _carry_request_id(headers=headers)
    assert headers == {"request_id": "req-abcdef123456"}

    structlog.contextvars.clear_contextvars()
    task = SimpleNamespace(name="demo", request=SimpleNamespace(request_id="req-abcdef123456"))
    _bind_request_id(task=task, task_id="task-1")
    assert current_request_id() == "req-abcdef123456"
    assert structlog.contextvars.get_contextvars()["task_id"] == "task-1"
    structlog.contextvars.clear_contextvars()
