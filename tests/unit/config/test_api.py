"""The one DRF exception handler: the project's errors become 404, 409 or 400 with a message."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from rest_framework.exceptions import NotFound

from config.api import api_exception_handler
from reliability.breaker.selectors import UnknownBreaker
from reliability.breaker.services import BreakerActionRefused
from reliability.dlq.exceptions import DeadLetterNotFound, DeadLetterStateError


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (DeadLetterNotFound(7), 404, {"detail": "dead letter not found: #7"}),
        (BreakerActionRefused("closed already"), 409, {"detail": "closed already"}),
        (
            DeadLetterStateError(7, "resolved", "replay"),
            409,
            {"detail": "dead letter #7 is resolved: cannot replay it", "status": "resolved"},
        ),
        (
            ValidationError({"timeout": ["must be more than 0 seconds"]}),
            400,
            {"timeout": ["must be more than 0 seconds"]},
        ),
        (ValidationError("no selection"), 400, {"detail": "no selection"}),
        (
            ValueError("a reason is required to discard dead letters"),
            400,
            {"detail": "a reason is required to discard dead letters"},
        ),
        (NotFound("drf's own"), 404, {"detail": "drf's own"}),
    ],
)
def test_project_errors_become_answers(error, status, body):
    response = api_exception_handler(error, {})
    assert (response.status_code, response.data) == (status, body)


@pytest.mark.django_db
def test_an_unknown_breaker_is_404_naming_it():
    response = api_exception_handler(UnknownBreaker("nope"), {})
    assert response.status_code == 404
    assert response.data["detail"].startswith("no circuit breaker named 'nope'")


@pytest.mark.parametrize("error", [RuntimeError("bug"), KeyError("bug"), LookupError("not ours")])
def test_anything_else_stays_a_server_error(error):
    assert api_exception_handler(error, {}) is None
