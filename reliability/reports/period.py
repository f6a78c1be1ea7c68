"""The period a reliability report covers, as the API, the command and the job name it.

One parser for every door, so ``?since=garbage`` and ``--since garbage`` get the same
one-line message. ``since`` is a duration back from ``until`` (``90m``, ``24h``, ``7d``,
``2w``, or plain seconds) or an ISO 8601 time; ``until`` is an ISO 8601 time, now when
omitted. Times without a zone are UTC.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

# A quarterly review reads 90 days; a year is the most any review asks for. A longer range
# is a typo (a unit typed wrong), not a question.
MAX_PERIOD = dt.timedelta(days=366)
# Clocks of the caller and the server disagree a little; "now" from a laptop is not the future.
CLOCK_SKEW = dt.timedelta(seconds=60)
DEFAULT_SINCE = "24h"
_DURATION = re.compile(r"^\s*([0-9]{1,9}(?:\.[0-9]{1,6})?)\s*([smhdw]?)\s*$", re.IGNORECASE | re.ASCII)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SHOWN = 40


class InvalidReportPeriod(ValueError):
    """A ``since``/``until`` the report cannot cover (400 from the API, exit 2 from the command)."""


@dataclass(frozen=True)
class ReportPeriod:
    since: dt.datetime
    until: dt.datetime

    @property
    def seconds(self) -> float:
        return (self.until - self.since).total_seconds()


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:_SHOWN] + ("…" if len(text) > _SHOWN else ""))


def _duration_seconds(value: str) -> float | None:
    match = _DURATION.match(value)
    if not match:
        return None
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    return seconds if math.isfinite(seconds) else None


def _instant(value: str, *, name: str) -> dt.datetime:
    text = value.strip()
    # ``fromisoformat`` also reads "2026-12-01" and "2026-12-01T10:00:00+02:00"; "Z" since 3.11.
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidReportPeriod(
            f"{name} {_shown(value)} is neither a duration (90m, 24h, 7d, 2w) nor an ISO 8601 time"
            if name == "since"
            else f"{name} {_shown(value)} is not an ISO 8601 time such as 2026-12-01T10:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def report_period_parse(*, since: Any = None, until: Any = None, now: dt.datetime) -> ReportPeriod:
    """The period from a door's ``since`` and ``until`` (strings or None), checked.

    Refuses what is not a duration or a time, zero or negative spans, NaN, times in the
    future, ``until`` not after ``since`` and spans over ``MAX_PERIOD``, each with one line
    that says what is accepted.
    """
    for name, value in (("since", since), ("until", until)):
        if value is not None and not isinstance(value, str):
            raise InvalidReportPeriod(f"{name} must be text such as 24h or 2026-12-01T10:00:00Z, not {_shown(value)}")
        if isinstance(value, str) and ("\x00" in value or not value.strip()):
            raise InvalidReportPeriod(f"{name} {_shown(value)} is empty or holds a NUL character")
    end = now if until is None else _instant(until, name="until")
    if end > now + CLOCK_SKEW:
        raise InvalidReportPeriod(f"until {_shown(until)} is in the future; a report covers what has happened")
    text = DEFAULT_SINCE if since is None else since
    if text.strip().startswith("-"):
        raise InvalidReportPeriod(f"since {_shown(text)} must be a duration of more than 0 or a time")
    seconds = _duration_seconds(text)
    if seconds is not None:
        if seconds <= 0:
            raise InvalidReportPeriod(f"since {_shown(text)} must be a duration of more than 0")
        # Checked before it becomes a timedelta, which 999999999w would overflow.
        if seconds > MAX_PERIOD.total_seconds():
            raise InvalidReportPeriod(f"since {_shown(text)} is longer than {MAX_PERIOD.days} days")
        start = end - dt.timedelta(seconds=seconds)
    else:
        start = _instant(text, name="since")
        if start > now + CLOCK_SKEW:
            raise InvalidReportPeriod(f"since {_shown(text)} is in the future; a report covers what has happened")
    if start >= end:
        raise InvalidReportPeriod(f"since ({start:%Y-%m-%dT%H:%M:%SZ}) must be before until ({end:%Y-%m-%dT%H:%M:%SZ})")
    if end - start > MAX_PERIOD:
        raise InvalidReportPeriod(
            f"the period from {start:%Y-%m-%d} to {end:%Y-%m-%d} is longer than {MAX_PERIOD.days} days"
        )
    return ReportPeriod(since=start, until=min(end, now))
