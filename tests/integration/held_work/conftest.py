"""The pipeline under the degradation gates, in this process: real PostgreSQL and Redis, the
real degradation services setting the level, loopback Green API and DeepSeek that count
what reaches them."""

from __future__ import annotations

import pytest

from reliability.degradation.services import degradation_clear, degradation_set_level
from tests.integration.messaging.conftest import deepseek, fresh_reliability  # noqa: F401 - fixtures
from tests.integration.messaging_ops.conftest import api_client_for, messaging_user  # noqa: F401 - fixtures
from tests.integration.outbox.conftest import green, green_api  # noqa: F401 - fixtures


class Level:
    """Sets the level as an operator does (override, history, publish, signal after commit)."""

    def __init__(self, actor, capture) -> None:
        self.actor = actor
        self.capture = capture

    def set(self, name: str) -> None:
        with self.capture(execute=True):
            degradation_set_level(level=name, reason="held work test", actor=self.actor, channel="api")

    def clear(self) -> None:
        with self.capture(execute=True):
            degradation_clear(reason="held work test over", actor=self.actor, channel="api")


@pytest.fixture
def level(superuser, django_capture_on_commit_callbacks) -> Level:
    return Level(superuser, django_capture_on_commit_callbacks)
