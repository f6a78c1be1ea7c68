from __future__ import annotations

import random

import pytest
from django.test import override_settings

from reliability.errors import CircuitOpenError, PermanentError, RateLimited, ReliabilityError, TransientError
from reliability.retry import RetryConfig


def delays(config: RetryConfig, count: int) -> list[float]:
    return [config.backoff(n) for n in range(1, count + 1)]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("exponential", [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]),
        ("linear", [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]),
        ("fixed", [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
        ("fibonacci", [0.5, 0.5, 1.0, 1.5, 2.5, 4.0]),
    ],
)
def test_each_strategy_gives_its_delay_sequence(strategy, expected):
    config = RetryConfig(max_retries=6, base_delay=0.5, max_delay=100.0, strategy=strategy, jitter="none")
    assert delays(config, 6) == expected


@pytest.mark.parametrize("strategy", ["exponential", "linear", "fibonacci"])
def test_max_delay_caps_every_growing_strategy(strategy):
    config = RetryConfig(max_retries=50, base_delay=1.0, max_delay=7.0, strategy=strategy)
    sequence = delays(config, 50)
    assert max(sequence) == 7.0
    assert sequence[-1] == 7.0
    assert sequence == sorted(sequence)


def test_a_huge_retry_number_does_not_overflow():
    config = RetryConfig(max_retries=5, base_delay=1.0, max_delay=30.0)
    assert config.backoff(100_000) == 30.0
    assert RetryConfig(max_retries=5, base_delay=1.0, max_delay=30.0, strategy="fibonacci").backoff(100_000) == 30.0


def test_full_jitter_stays_within_zero_and_the_delay():
    config = RetryConfig(max_retries=3, base_delay=1.0, max_delay=10.0, jitter="full")
    rng = random.Random(7)
    samples = [config.jittered(4.0, rng.uniform) for _ in range(2000)]
    assert all(0.0 <= s <= 4.0 for s in samples)
    # Spread over the whole range, not clustered at one end.
    assert min(samples) < 0.4 and max(samples) > 3.6


def test_equal_jitter_keeps_at_least_half_the_delay():
    config = RetryConfig(max_retries=3, base_delay=1.0, max_delay=10.0, jitter="equal")
    rng = random.Random(7)
    samples = [config.jittered(4.0, rng.uniform) for _ in range(2000)]
    assert all(2.0 <= s <= 4.0 for s in samples)
    assert min(samples) < 2.2 and max(samples) > 3.8


def test_no_jitter_keeps_the_delay_exact():
    config = RetryConfig(max_retries=3, base_delay=1.0, max_delay=10.0, jitter="none")
    assert config.jittered(4.0, random.uniform) == 4.0


def test_full_jitter_is_the_default():
    assert RetryConfig().jitter == "full"
    assert RetryConfig().strategy == "exponential"


@override_settings(RETRY_DEFAULTS={"max_retries": 4, "base_delay": 0.25, "max_delay": 3.0})
def test_missing_numbers_come_from_settings_retry_defaults():
    config = RetryConfig(base_delay=2.0)
    assert (config.max_retries, config.base_delay, config.max_delay) == (4, 2.0, 3.0)


def test_default_retry_on_covers_transient_and_network_errors_only():
    import requests

    config = RetryConfig()
    assert config.is_retryable_error(TransientError("5xx"))
    assert config.is_retryable_error(RateLimited(retry_after=3))
    assert config.is_retryable_error(ConnectionResetError())
    assert config.is_retryable_error(TimeoutError())
    assert config.is_retryable_error(requests.ConnectionError())
    assert config.is_retryable_error(requests.ReadTimeout())
    assert not config.is_retryable_error(PermanentError("400"))
    assert not config.is_retryable_error(ValueError("bug"))
    assert not config.is_retryable_error(KeyError("bug"))


def test_circuit_open_error_is_never_retryable_even_when_its_parent_is_listed():
    config = RetryConfig(retry_on=(ReliabilityError,))
    assert config.is_retryable_error(TransientError())
    assert not config.is_retryable_error(CircuitOpenError("green_api", 30.0))
    assert not RetryConfig(retry_on=lambda error: True).is_retryable_error(CircuitOpenError("x", None))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"base_delay": -0.1}, "base_delay"),
        ({"max_delay": "5"}, "max_delay"),
        ({"deadline": 0}, "deadline"),
        ({"strategy": "quadratic"}, "strategy"),
        ({"jitter": "decorrelated"}, "jitter"),
        ({"retry_on": Exception}, "every bug"),
        ({"retry_on": (TransientError, BaseException)}, "every bug"),
        ({"retry_on": (TransientError, "ValueError")}, "exception classes"),
        ({"retry_on": 3}, "exception classes or a predicate"),
    ],
)
def test_bad_configuration_is_refused_with_a_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetryConfig(**kwargs)
