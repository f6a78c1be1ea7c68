"""Replay through a real circuit breaker guarding a dead loopback endpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from reliability.breaker import CircuitBreakerConfig, get_circuit_breaker
from reliability.breaker.breaker import forget_circuit_breakers
from reliability.dlq.models import DeadLetter, DeadLetterAttempt, DeadLetterStatus, FailureKind
from reliability.dlq.services import dead_letter_add, dead_letter_replay_batch
from reliability.errors import TransientError
from tests.integration.dlq.handlers import GREEN_API_TOKEN
from tests.services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def breaker(redis_client):
    forget_circuit_breakers()
    yield get_circuit_breaker("dlq_test_green_api", CircuitBreakerConfig(failure_threshold=1, recovery_timeout=60))
    forget_circuit_breakers()


def make_due(letter: DeadLetter) -> None:
    DeadLetter.objects.filter(pk=letter.pk).update(next_retry_at=timezone.now() - timedelta(seconds=1))


def test_replaying_while_the_breaker_is_open_spends_no_attempts(breaker, handlers, settings):
    settings.DLQ_REPLAY_RATE_PER_TYPE = 1000.0
    # Nothing listens on this port: every send is refused, as with Green API down.
    url = f"http://127.0.0.1:{free_port()}/waInstance1101000001/sendMessage/{GREEN_API_TOKEN}"
    handlers["dlq_test_send"] = lambda payload: breaker.call(requests.post, url, json=payload, timeout=2)
    letter = dead_letter_add(
        message_type="dlq_test_send", payload={"chatId": "79001234567@c.us"}, error=TransientError("refused")
    )

    make_due(letter)
    assert dead_letter_replay_batch(batch_size=10)["failed"] == 1  # the failure that opens the breaker
    letter.refresh_from_db()
    assert (letter.attempts, letter.failure_kind) == (1, FailureKind.TRANSIENT)
    assert GREEN_API_TOKEN not in letter.error_message + letter.traceback

    for _ in range(3):
        make_due(letter)
        before = timezone.now()
        assert dead_letter_replay_batch(batch_size=10)["deferred"] == 1
        letter.refresh_from_db()
        assert letter.attempts == 1
        assert letter.status == DeadLetterStatus.PENDING
        assert (letter.failure_kind, letter.breaker_name) == (FailureKind.BREAKER_OPEN, "dlq_test_green_api")
        assert letter.next_retry_at >= before + timedelta(seconds=50)
    outcomes = list(DeadLetterAttempt.objects.filter(letter=letter).values_list("outcome", flat=True))
    assert outcomes == ["failed", "failed", "deferred", "deferred", "deferred"]
