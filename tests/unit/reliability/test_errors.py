"""One list of network errors: breakers count, retries retry and the DLQ backs off the same ones."""

from __future__ import annotations

import pytest
import requests

from reliability.breaker.breaker import counts_as_failure
from reliability.breaker.config import CircuitBreakerConfig
from reliability.dlq.classify import classify_failure
from reliability.dlq.models import FailureKind
from reliability.errors import NETWORK_ERRORS
from reliability.retry.config import RetryConfig
from reliability.retry.http import http_error_predicate, retryable_statuses

DROPPED = requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead(0 bytes read)")


@pytest.mark.parametrize("error", [cls() for cls in NETWORK_ERRORS] + [DROPPED])
def test_every_layer_treats_a_network_error_as_the_remote_side_being_unwell(error, settings):
    assert counts_as_failure(error, CircuitBreakerConfig())
    assert RetryConfig().is_retryable_error(error)
    assert http_error_predicate(retryable_statuses(retry_on_500=False))(error)
    assert classify_failure(error).kind == FailureKind.TRANSIENT


def test_a_connection_the_server_dropped_mid_body_is_a_network_error():
    assert isinstance(DROPPED, NETWORK_ERRORS)
