"""``coerce_override`` refuses what the CircuitBreaker row cannot hold or the breaker cannot compute with."""

from __future__ import annotations

import math

import pytest
from django.core.exceptions import ValidationError

from reliability.breaker.config import MAX_OVERRIDE_INT, MAX_OVERRIDE_SECONDS, coerce_override


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("failure_threshold", "7", 7),
        ("failure_threshold", " 7 ", 7),
        ("failure_threshold", "7.0", 7),
        ("failure_threshold", 7.0, 7),
        ("failure_threshold", MAX_OVERRIDE_INT, MAX_OVERRIDE_INT),
        ("timeout", 5, 5.0),
        ("timeout", "2.5", 2.5),
        ("recovery_timeout", MAX_OVERRIDE_SECONDS, MAX_OVERRIDE_SECONDS),
        ("failure_rate_threshold", "0.5", 0.5),
        ("timeout", "", None),
        ("timeout", None, None),
        # Sense (at least 1) is the config's call, not the parser's.
        ("failure_threshold", -3, -3),
    ],
)
def test_values_are_parsed_into_the_field_type(name, value, expected):
    result = coerce_override(name, value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("failure_threshold", "NaN", "must be a finite number, got 'NaN'"),
        ("failure_threshold", "Infinity", "must be a finite number"),
        ("failure_threshold", math.inf, "must be a finite number"),
        ("failure_threshold", "1e400", "must be a finite number"),
        ("failure_threshold", MAX_OVERRIDE_INT + 1, f"must be between 1 and {MAX_OVERRIDE_INT}, got 2147483648"),
        ("window_size", -(10**12), f"must be between 1 and {MAX_OVERRIDE_INT}"),
        ("window_size", 1e300, f"must be between 1 and {MAX_OVERRIDE_INT}"),
        ("window_size", "7.5", "must be a whole number"),
        ("recovery_timeout", "NaN", "must be a finite number"),
        ("recovery_timeout", math.nan, "must be a finite number"),
        ("recovery_timeout", -math.inf, "must be a finite number"),
        ("max_recovery_timeout", MAX_OVERRIDE_SECONDS + 1, "must be at most 86400 seconds"),
        ("slow_call_rate_threshold", 10**400, "must be a finite number"),
        ("timeout", "soon", "must be a number, got 'soon'"),
        ("timeout", [1], "must be a number"),
        ("timeout", {"s": 1}, "must be a number"),
        ("timeout", True, "must be a number, got True"),
    ],
)
def test_values_that_cannot_be_stored_are_refused_by_field(name, value, message):
    with pytest.raises(ValidationError) as refused:
        coerce_override(name, value)
    assert list(refused.value.message_dict) == [name]
    assert message in refused.value.message_dict[name][0]


def test_a_long_value_is_shortened_in_the_message():
    with pytest.raises(ValidationError) as refused:
        coerce_override("timeout", "x" * 10_000)
    assert len(refused.value.message_dict["timeout"][0]) < 100
