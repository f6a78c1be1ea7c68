"""Time series for the dashboard's charts, bucketed by the database.

The database groups rows by minute (``TruncMinute``, on PostgreSQL and SQLite alike) over
an indexed time range; at most ``MAX_BUCKETS`` buckets are drawn, so a longer window folds
minutes into wider buckets here. A chart of any window costs one grouped query per line.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

from django.db.models import Count, Max, QuerySet, Sum
from django.db.models.functions import TruncMinute

MAX_BUCKETS = 180


def chart_window(*, now: dt.datetime, hours: int) -> tuple[dt.datetime, dt.datetime, dt.timedelta]:
    """``(since, until, step)``: the last ``hours`` to the next whole minute, in whole-minute buckets."""
    until = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    since = until - dt.timedelta(hours=hours)
    step = dt.timedelta(minutes=max(1, math.ceil(hours * 60 / MAX_BUCKETS)))
    return since, until, step


def bucket_starts(*, since: dt.datetime, until: dt.datetime, step: dt.timedelta) -> list[dt.datetime]:
    count = math.ceil((until - since) / step)
    return [since + i * step for i in range(count)]


def _index(moment: dt.datetime, since: dt.datetime, step: dt.timedelta) -> int:
    return int((moment - since) // step)


def counts_per_bucket(
    *, queryset: QuerySet, field: str, since: dt.datetime, until: dt.datetime, step: dt.timedelta
) -> list[tuple[dt.datetime, float]]:
    """How many rows of ``queryset`` have ``field`` in each bucket, per minute of the bucket."""
    starts = bucket_starts(since=since, until=until, step=step)
    totals = [0] * len(starts)
    rows = (
        queryset.filter(**{f"{field}__gte": since, f"{field}__lt": until})
        .order_by()
        .annotate(minute=TruncMinute(field))
        .values("minute")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        index = _index(row["minute"], since, step)
        if 0 <= index < len(totals):
            totals[index] += row["n"]
    per_minute = step.total_seconds() / 60
    return [(start, total / per_minute) for start, total in zip(starts, totals, strict=True)]


def durations_per_bucket(
    *,
    queryset: QuerySet,
    field: str,
    duration: str,
    since: dt.datetime,
    until: dt.datetime,
    step: dt.timedelta,
) -> dict[str, list[tuple[dt.datetime, float | None]]]:
    """The mean and the maximum of the duration annotation ``duration`` per bucket of ``field``, in seconds."""
    starts = bucket_starts(since=since, until=until, step=step)
    sums = [0.0] * len(starts)
    counts = [0] * len(starts)
    highs: list[float | None] = [None] * len(starts)
    rows = (
        queryset.filter(**{f"{field}__gte": since, f"{field}__lt": until})
        .order_by()
        .annotate(minute=TruncMinute(field))
        .values("minute")
        .annotate(n=Count("pk"), total=Sum(duration), high=Max(duration))
    )
    seconds: Callable[[dt.timedelta], float] = dt.timedelta.total_seconds
    for row in rows:
        index = _index(row["minute"], since, step)
        if 0 <= index < len(starts) and row["n"]:
            sums[index] += seconds(row["total"])
            counts[index] += row["n"]
            high = seconds(row["high"])
            highs[index] = high if highs[index] is None else max(highs[index], high)
    return {
        "mean": [(s, sums[i] / counts[i] if counts[i] else None) for i, s in enumerate(starts)],
        "max": [(s, highs[i]) for i, s in enumerate(starts)],
    }


def running_total_per_bucket(
    *,
    start_value: int,
    added: list[tuple[dt.datetime, float]],
    removed: list[tuple[dt.datetime, float]],
    step: dt.timedelta,
) -> list[tuple[dt.datetime, float]]:
    """A level over time (a queue's backlog) from its value at the start and what came and went per bucket."""
    per_bucket = step.total_seconds() / 60
    level = float(start_value)
    points = []
    for (start, came), (_, went) in zip(added, removed, strict=True):
        level += (came - went) * per_bucket
        points.append((start + step, round(level)))
    return [(added[0][0], float(start_value)), *points] if added else []
