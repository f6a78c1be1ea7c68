"""Fixtures for the dead letter tests: handlers registered per test, letters in a given state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reliability.dlq import registry
from reliability.dlq.models import DeadLetter


@pytest.fixture
def handlers():
    """Register handlers for one test only: ``handlers["type"] = fn``."""
    registered: list[str] = []

    class Registrar:
        def __setitem__(self, message_type, fn):
            registry.register_handler(message_type, fn)
            registered.append(message_type)

    yield Registrar()
    for message_type in registered:
        registry.unregister_handler(message_type)


@pytest.fixture
def make_due():
    """Make a letter due now (its backoff elapsed)."""

    def due(letter: DeadLetter) -> None:
        DeadLetter.objects.filter(pk=letter.pk).update(next_retry_at=timezone.now() - timedelta(seconds=1))

    return due


@pytest.fixture(autouse=True)
def _fast_replay_rate(settings, redis_client):
    # The shared Redis bucket is emptied per test (redis_client flushes), and the rate is
    # high so that tests of other behaviour are not throttled.
    settings.DLQ_REPLAY_RATE_PER_TYPE = 10_000.0
