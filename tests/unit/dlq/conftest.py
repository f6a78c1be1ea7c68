"""Fixtures for the dead letter tests: handlers registered per test, letters in a given state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reliability.dlq.models import DeadLetter


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
