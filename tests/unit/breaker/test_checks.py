from __future__ import annotations

from reliability.breaker.checks import check_breaker_configs


def test_settings_profiles_pass(settings):
    assert check_breaker_configs() == []


def test_bad_breaker_settings_are_reported_with_the_field(settings):
    settings.CIRCUIT_BREAKER_CONFIGS = {
        "green_api": {"failure_threshold": -1},
        "deepseek": {"minimum_requests": 500},
        "bad name": {},
        "typo": {"failure_treshold": 3},
    }
    errors = {error.id: error.msg for error in check_breaker_configs()}
    messages = " | ".join(error.msg for error in check_breaker_configs())
    assert "failure_threshold must be at least 1" in messages
    assert "minimum_requests must not exceed window_size" in messages
    assert "failure_treshold is not a circuit breaker setting" in messages
    assert "reliability.E102" in errors
