"""Config validation and the layering defaults < settings < row overrides."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from reliability.breaker.config import CircuitBreakerConfig, base_config, coerce_override, effective_config
from reliability.breaker.models import CircuitBreaker


def test_defaults_are_the_seeds():
    config = CircuitBreakerConfig()
    assert (config.failure_threshold, config.recovery_timeout, config.success_threshold) == (5, 60.0, 3)
    assert (config.window_size, config.minimum_requests, config.timeout) == (100, 10, 30.0)
    assert config.slow_call_threshold is None and config.scope == "shared"
    assert config.validate() is config


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"failure_threshold": -1}, "failure_threshold", "at least 1"),
        ({"failure_threshold": 2.5}, "failure_threshold", "whole number"),
        ({"failure_rate_threshold": 1.5}, "failure_rate_threshold", "at most 1"),
        ({"failure_rate_threshold": 0}, "failure_rate_threshold", "above 0"),
        ({"minimum_requests": 200}, "minimum_requests", "must not exceed window_size (100)"),
        ({"recovery_timeout": -5}, "recovery_timeout", "more than 0"),
        ({"max_recovery_timeout": 10}, "max_recovery_timeout", "at least recovery_timeout"),
        ({"slow_call_threshold": 60}, "slow_call_threshold", "must not exceed timeout"),
        ({"slow_call_rate_threshold": 2}, "slow_call_rate_threshold", "at most 1"),
        ({"window_size": 0}, "window_size", "at least 1"),
        ({"window_size": 10**6}, "window_size", "at most"),
        ({"scope": "global"}, "scope", "shared, local"),
    ],
)
def test_invalid_values_are_refused_with_a_message(changes, field, words):
    config = CircuitBreakerConfig().with_changes(changes)
    with pytest.raises(ValidationError) as caught:
        config.validate()
    assert field in caught.value.message_dict
    assert words in caught.value.message_dict[field][0]


def test_unknown_setting_is_refused():
    with pytest.raises(ValidationError) as caught:
        CircuitBreakerConfig().with_changes({"failure_treshold": 3})
    assert "failure_treshold" in caught.value.message_dict


def test_coerce_override_from_text():
    assert coerce_override("failure_threshold", "7") == 7
    assert coerce_override("timeout", "2.5") == 2.5
    assert coerce_override("timeout", "") is None
    with pytest.raises(ValidationError, match="whole number"):
        coerce_override("window_size", "7.5")
    with pytest.raises(ValidationError, match="must be a number"):
        coerce_override("timeout", "soon")


def test_settings_overlay_the_defaults(settings):
    settings.CIRCUIT_BREAKER_CONFIGS = {"green_api": {"failure_threshold": 9, "recovery_timeout": 7.0}}
    config = base_config("green_api")
    assert (config.failure_threshold, config.recovery_timeout, config.window_size) == (9, 7.0, 100)
    assert base_config("other") == CircuitBreakerConfig()


def test_row_overrides_win_over_the_base():
    base = CircuitBreakerConfig(failure_threshold=9, recovery_timeout=7.0)
    row = CircuitBreaker(name="x", failure_threshold=2, timeout=3.0)
    config = effective_config(base, row)
    assert (config.failure_threshold, config.timeout, config.recovery_timeout) == (2, 3.0, 7.0)


def test_row_overrides_that_do_not_validate_are_ignored_as_a_whole():
    base = CircuitBreakerConfig()
    row = CircuitBreaker(name="x", failure_threshold=2, minimum_requests=500)
    assert effective_config(base, row) == base
