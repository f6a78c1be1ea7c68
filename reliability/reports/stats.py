"""Percentiles computed by the database, the same way on PostgreSQL and SQLite.

Nearest-rank percentiles: the value at rank ceil(p * n) of the sorted values, read with
one ``ORDER BY ... OFFSET k LIMIT 1`` each, so no value list comes into Python whatever
the period's size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from django.db.models import Avg, Count, Max, QuerySet

PERCENTILES = (0.5, 0.9, 0.99)


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    return round(value.total_seconds() if hasattr(value, "total_seconds") else float(value), 3)


def percentiles_seconds(
    *, queryset: QuerySet, field: str, percentiles: Sequence[float] = PERCENTILES
) -> dict[str, float | int | None]:
    """``count``, ``avg``, ``max`` and ``p50``/``p90``/``p99`` of the duration annotation ``field``, in seconds."""
    summary = queryset.order_by().aggregate(count=Count("pk"), avg=Avg(field), max=Max(field))
    result: dict[str, float | int | None] = {
        "count": summary["count"],
        "avg": _seconds(summary["avg"]),
        "max": _seconds(summary["max"]),
    }
    for p in percentiles:
        label = f"p{p * 100:g}"
        if not summary["count"]:
            result[label] = None
            continue
        rank = max(math.ceil(p * summary["count"]) - 1, 0)
        value = queryset.order_by(field).values_list(field, flat=True)[rank : rank + 1]
        result[label] = _seconds(next(iter(value), None))
    return result
