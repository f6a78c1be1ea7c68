"""One parser decides what period a report may cover, for the API and the command alike."""

from __future__ import annotations

import datetime as dt

import pytest

from reliability.reports.period import InvalidReportPeriod, report_period_parse

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (None, None, (NOW - dt.timedelta(hours=24), NOW)),
        ("90m", None, (NOW - dt.timedelta(minutes=90), NOW)),
        ("7d", None, (NOW - dt.timedelta(days=7), NOW)),
        ("2w", None, (NOW - dt.timedelta(days=14), NOW)),
        ("3600", None, (NOW - dt.timedelta(hours=1), NOW)),
        (
            "1h",
            "2026-12-01T10:00:00Z",
            (utc(2026, 12, 1, 9), utc(2026, 12, 1, 10)),
        ),
        (
            "2026-11-30",
            "2026-12-01T01:00:00+02:00",
            (utc(2026, 11, 30), utc(2026, 11, 30, 23)),
        ),
        ("366d", None, (NOW - dt.timedelta(days=366), NOW)),
    ],
)
def test_durations_and_iso_times_give_the_period(since, until, expected):
    period = report_period_parse(since=since, until=until, now=NOW)
    assert (period.since, period.until) == expected


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("garbage", None, "neither a duration"),
        ("nan", None, "neither a duration"),
        ("inf", None, "neither a duration"),
        ("1e999", None, "neither a duration"),
        ("-5h", None, "more than 0"),
        ("0", None, "more than 0"),
        ("0h", None, "more than 0"),
        ("367d", None, "longer than 366 days"),
        ("999999999w", None, "longer than 366 days"),
        ("2030-01-01", None, "in the future"),
        ("1h", "2030-01-01T00:00:00Z", "in the future"),
        ("2026-12-01T11:00:00Z", "2026-12-01T10:00:00Z", "must be before until"),
        ("2025-01-01", None, "longer than 366 days"),
        ("1h", "yesterday", "not an ISO 8601 time"),
        ("1h\x00", None, "NUL"),
        ("", None, "empty"),
        (["1h"], None, "must be text"),
        (3600, None, "must be text"),
        ("привет", None, "neither a duration"),
        ("x" * 5000, None, "neither a duration"),
    ],
)
def test_bad_periods_are_refused_with_one_line(since, until, message):
    with pytest.raises(InvalidReportPeriod) as refused:
        report_period_parse(since=since, until=until, now=NOW)
    text = str(refused.value)
    assert message in text
    assert "\n" not in text and len(text) < 200
