from __future__ import annotations

import pytest

from reliability.degradation.levels import (
    MAX_OVERRIDE_SECONDS,
    DegradationLevel,
    InvalidDuration,
    UnknownLevel,
    duration_parse,
    level_parse,
)


@pytest.mark.parametrize(("given", "level"), [("moderate", 2), ("CRITICAL", 4), ("  minor ", 1), ("Normal", 0)])
def test_levels_are_named_in_any_case(given, level):
    assert level_parse(given) == DegradationLevel(level)


@pytest.mark.parametrize("given", ["moderat", "", "2", 2, None, "модерато", "mod\x00erate", ["minor"], True])
def test_an_unknown_level_is_refused_listing_the_valid_ones(given):
    with pytest.raises(UnknownLevel) as refused:
        level_parse(given)
    assert str(refused.value).endswith("valid levels: normal, minor, moderate, severe, critical")


def test_levels_are_ordered_as_in_the_metric():
    assert [level.slug for level in sorted(DegradationLevel)] == ["normal", "minor", "moderate", "severe", "critical"]
    assert [int(level) for level in DegradationLevel] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("given", "seconds"),
    [("900", 900), (900, 900), (1.5, 1.5), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), (" 2H ", 7200)],
)
def test_durations_in_seconds_or_with_a_unit(given, seconds):
    assert duration_parse(given) == seconds


@pytest.mark.parametrize(
    "given",
    [
        "0",
        0,
        "-5",
        -5,
        "-30m",
        float("nan"),
        "nan",
        float("inf"),
        "inf",
        "1e309",
        str(MAX_OVERRIDE_SECONDS + 1),
        "31d",
        10**400,
        "soon",
        "30x",
        "",
        "2h30m",
        "3\x00m",
        "٣٠m",
        True,
        None,
        [30],
    ],
)
def test_expiries_that_are_not_a_future_duration_are_refused(given):
    with pytest.raises(InvalidDuration) as refused:
        duration_parse(given)
    assert "not a duration in the future" in str(refused.value)
    assert "900, 30m, 2h, 1d" in str(refused.value)
