"""Fixtures for the operator doors of the DLQ: a replay handler on demand, letters, actors."""

from __future__ import annotations

from typing import Any

import pytest

from reliability.dlq import registry
from reliability.dlq.models import DeadLetter
from reliability.dlq.services import dead_letter_add
from reliability.errors import PermanentError, TransientError

MESSAGE_TYPE = "ops_test_message"


class RecordingHandler:
    """Succeeds, or raises ``TransientError`` for payloads that say ``"fail": true``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, payload: dict[str, Any]) -> None:
        self.calls.append(payload)
        if payload.get("fail"):
            raise TransientError("upstream still down")

    @property
    def handled_ids(self) -> list[int]:
        return [call["n"] for call in self.calls]


@pytest.fixture(autouse=True)
def _fast_replay_rate(settings, redis_client):
    # The per-type bucket lives in the suite's Redis (flushed per test); a high rate keeps
    # bulk replays from sleeping.
    settings.DLQ_REPLAY_RATE_PER_TYPE = 10_000.0


@pytest.fixture
def handler():
    recording = RecordingHandler()
    registry.register_handler(MESSAGE_TYPE, recording)
    yield recording
    registry.unregister_handler(MESSAGE_TYPE)


@pytest.fixture
def make_letter():
    """A letter stored by the real service; ``fail=True`` makes its replay fail."""
    counter = iter(range(1, 1_000_000))

    def make(
        *, fail: bool = False, error: BaseException | None = None, message_type: str = MESSAGE_TYPE, **payload: Any
    ) -> DeadLetter:
        body = {"n": next(counter), "chatId": "79001234567@c.us", "fail": fail, **payload}
        return dead_letter_add(
            message_type=message_type,
            payload=body,
            error=error or TransientError("green api timed out"),
            source="tests.dlq_ops",
        )

    return make


@pytest.fixture
def permanent_error():
    return PermanentError("recipient is not on WhatsApp")
