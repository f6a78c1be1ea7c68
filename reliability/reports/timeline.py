"""Time spent in each state over a period, from an append-only history of changes, in SQL.

A history row says "from this time on, the state is ``to``". The time a row's state lasted
is up to the next row of the same subject (a breaker; degradation has one subject), cut
to the period. The database sums those durations per subject and state, with the next
row found through the history's (subject, time) index, so a period of a year costs the
same few queries as an hour and no row is read into Python. Before the first row of the
period, the state is the one the last earlier row set; with no earlier row, the state the
first row left (``from``), or, with no row at all, what the caller says it is now.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable
from typing import Any

from django.db.models import (
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Least


def states_seconds(
    *,
    history: QuerySet,
    subject: str | None,
    at: str,
    to_state: str,
    from_state: str,
    since: dt.datetime,
    until: dt.datetime,
    current: dict[Hashable, Any],
) -> dict[Hashable, dict[Any, float]]:
    """``{subject: {state: seconds}}`` over ``[since, until)`` for every subject in ``current``.

    ``history`` holds the change rows (``at`` their time, ``to_state``/``from_state`` the
    states); ``subject`` names the field that says whose change it is (None: one subject,
    keyed None). ``current`` maps each subject to its state now, used when it never changed.
    """
    end = Value(until, output_field=DateTimeField())
    same_subject = {subject: OuterRef(subject)} if subject else {}
    following = (
        history.filter(**same_subject)
        .filter(Q(**{f"{at}__gt": OuterRef(at)}) | Q(**{at: OuterRef(at), "pk__gt": OuterRef("pk")}))
        .order_by(at, "pk")
        .values(at)[:1]
    )
    in_period = history.filter(**{f"{at}__gte": since, f"{at}__lt": until})
    lasted = ExpressionWrapper(Least(Coalesce(Subquery(following), end), end) - F(at), output_field=DurationField())
    group = [subject, to_state] if subject else [to_state]
    totals: dict[Hashable, dict[Any, float]] = {name: defaultdict(float) for name in current}
    for row in in_period.order_by().annotate(lasted=lasted).values(*group).annotate(total=Sum("lasted")):
        name = row[subject] if subject else None
        if name in totals and row["total"] is not None:
            totals[name][row[to_state]] += row["total"].total_seconds()

    # The stretch from ``since`` to each subject's first change in the period.
    firsts = in_period.order_by()
    if subject:
        first_at = {row[subject]: row["first"] for row in firsts.values(subject).annotate(first=Min(at))}
    else:
        first_at = {None: firsts.aggregate(first=Min(at))["first"]}
    for name in current:
        scope = history.filter(**{subject: name}) if subject else history
        earlier = scope.filter(**{f"{at}__lt": since}).order_by(f"-{at}", "-pk")
        before = earlier.values_list(to_state, flat=True).first()
        first = first_at.get(name)
        if before is not None:
            state = before
        elif first is not None:
            state = scope.filter(**{at: first}).order_by("pk").values_list(from_state, flat=True).first()
        else:
            state = current[name]
        stretch = ((first or until) - since).total_seconds()
        if stretch > 0:
            totals[name][state] += stretch
    return {name: dict(states) for name, states in totals.items()}


def state_segments(
    *,
    history: QuerySet,
    at: str,
    to_state: str,
    from_state: str,
    since: dt.datetime,
    until: dt.datetime,
    current: Any,
    limit: int = 500,
) -> list[tuple[dt.datetime, dt.datetime, Any]]:
    """``[(start, end, state)]`` covering ``[since, until)`` for one subject's ``history``.

    Reads at most ``limit`` changes of the period (the latest), and one row before it, so a
    flapping subject still draws in bounded time; earlier changes of a longer burst show as
    the state the first shown change left.
    """
    changes = list(
        history.filter(**{f"{at}__gte": since, f"{at}__lt": until})
        .order_by(f"-{at}", "-pk")
        .values_list(at, from_state, to_state)[:limit]
    )[::-1]
    before = history.filter(**{f"{at}__lt": since}).order_by(f"-{at}", "-pk").values_list(to_state, flat=True).first()
    state = changes[0][1] if changes and (before is None or len(changes) == limit) else before
    if state is None:
        state = current
    segments = []
    start = since
    for moment, _, new_state in changes:
        if moment > start:
            segments.append((start, moment, state))
        start, state = moment, new_state
    segments.append((start, until, state))
    return segments
