"""The real Green API client against a loopback server, with fresh breakers (the clients' fixtures)."""

from __future__ import annotations

import itertools

import pytest

from tests.httpserver import Reply
from tests.integration.messaging.conftest import fresh_reliability, green_api  # noqa: F401 - fixtures

_ids = itertools.count(1)


def accept(request) -> Reply:
    """sendMessage accepted with a new idMessage each time (Green API's are unique per chat)."""
    return Reply(json={"idMessage": f"3EB0{next(_ids):016X}"})


@pytest.fixture
def green(green_api):  # noqa: F811 - the imported fixture, extended
    """The loopback Green API, accepting every send with a fresh idMessage."""
    green_api.on_request = lambda request: accept(request) if "/sendMessage/" in request.path else None
    return green_api
