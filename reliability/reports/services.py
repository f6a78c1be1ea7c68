"""Build the reliability report for a period, and store the hourly ones.

Every number comes from the stored histories, aggregated by the database over indexed
time ranges: breaker transitions, dead letters with their attempts, degradation events,
and the sections other apps register (messaging, health). A report over a year costs the
same queries as one over an hour. The report says what it could not see: letters the
cleanup job deleted (settled more than ``DLQ_RETENTION_DAYS`` ago) are not counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Min
from django.utils import timezone

from reliability.breaker.models import BreakerState, BreakerTransition, CircuitBreaker
from reliability.degradation.levels import DegradationLevel
from reliability.degradation.models import DegradationEvent, DegradationState
from reliability.dlq.models import DeadLetter, DeadLetterAttempt, DeadLetterStatus
from reliability.dlq.selectors import dead_letter_waiting_at
from reliability.reports.models import ReliabilityReport
from reliability.reports.registry import report_sections
from reliability.reports.timeline import states_seconds

log = structlog.get_logger(__name__)

# States in which a breaker turns calls away (half-open admits only its trial calls).
OPEN_STATES = (BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.FORCED_OPEN)
OPENING = (BreakerState.OPEN, BreakerState.FORCED_OPEN)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def _breakers(*, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    rows = {pk: (name, state) for pk, name, state in CircuitBreaker.objects.values_list("pk", "name", "state")}
    seconds = states_seconds(
        history=BreakerTransition.objects.all(),
        subject="breaker_id",
        at="created_at",
        to_state="to_state",
        from_state="from_state",
        since=since,
        until=until,
        current={pk: state for pk, (_, state) in rows.items()},
    )
    counts: dict[int, dict[str, dict[str, int]]] = {pk: {"to_state": {}, "reason": {}} for pk in rows}
    in_period = BreakerTransition.objects.filter(created_at__gte=since, created_at__lt=until).order_by()
    for row in in_period.values("breaker_id", "to_state", "reason").annotate(n=Count("id")):
        for field in ("to_state", "reason"):
            bucket = counts[row["breaker_id"]][field]
            bucket[row[field]] = bucket.get(row[field], 0) + row["n"]
    span = (until - since).total_seconds()
    result: dict[str, Any] = {}
    for pk, (name, _) in sorted(rows.items(), key=lambda item: item[1][0]):
        by_state = {state: round(value, 3) for state, value in sorted(seconds[pk].items()) if value > 0}
        open_seconds = sum(value for state, value in by_state.items() if state in OPEN_STATES)
        result[name] = {
            "open_seconds": round(open_seconds, 3),
            "open_ratio": round(open_seconds / span, 6),
            "seconds_by_state": by_state,
            "transitions": sum(counts[pk]["to_state"].values()),
            "opened": sum(n for state, n in counts[pk]["to_state"].items() if state in OPENING),
            "transitions_by_to_state": dict(sorted(counts[pk]["to_state"].items())),
            "transitions_by_reason": dict(sorted(counts[pk]["reason"].items())),
        }
    for name in sorted(set(getattr(settings, "CIRCUIT_BREAKER_CONFIGS", {})) - {name for name, _ in rows.values()}):
        # Configured, never called through: closed all along, nothing recorded.
        result[name] = {
            "open_seconds": 0.0,
            "open_ratio": 0.0,
            "seconds_by_state": {BreakerState.CLOSED.value: round(span, 3)},
            "transitions": 0,
            "opened": 0,
            "transitions_by_to_state": {},
            "transitions_by_reason": {},
        }
    return dict(sorted(result.items()))


def _dead_letters(*, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    letters = DeadLetter.objects.order_by()
    by_type: dict[str, dict[str, int]] = {}

    def add(message_type: str, field: str, n: int) -> None:
        bucket = by_type.setdefault(message_type, {"added": 0, "resolved": 0, "discarded": 0, "waiting_at_end": 0})
        bucket[field] = bucket.get(field, 0) + n

    added = letters.filter(created_at__gte=since, created_at__lt=until)
    for row in added.values("message_type").annotate(n=Count("id")):
        add(row["message_type"], "added", row["n"])
    settled = letters.filter(
        settled_at__gte=since, settled_at__lt=until, status__in=(DeadLetterStatus.RESOLVED, DeadLetterStatus.DISCARDED)
    )
    for row in settled.values("message_type", "status").annotate(n=Count("id")):
        add(row["message_type"], row["status"], row["n"])
    waiting_end = letters.filter(dead_letter_waiting_at(until))
    for row in waiting_end.values("message_type").annotate(n=Count("id")):
        add(row["message_type"], "waiting_at_end", row["n"])
    oldest = waiting_end.aggregate(oldest=Min("created_at"))["oldest"]
    attempts = DeadLetterAttempt.objects.filter(attempted_at__gte=since, attempted_at__lt=until).order_by()
    by_outcome = {row["outcome"]: row["n"] for row in attempts.values("outcome").annotate(n=Count("id"))}
    totals = {field: sum(bucket[field] for bucket in by_type.values()) for field in ("added", "resolved", "discarded")}
    return {
        **totals,
        "out": totals["resolved"] + totals["discarded"],
        "waiting_at_start": letters.filter(dead_letter_waiting_at(since)).count(),
        "waiting_at_end": sum(bucket["waiting_at_end"] for bucket in by_type.values()),
        "oldest_waiting_at_end": _iso(oldest),
        "oldest_waiting_age_seconds": round((until - oldest).total_seconds(), 3) if oldest else None,
        "replay_attempts": dict(sorted(by_outcome.items())),
        "by_type": dict(sorted(by_type.items())),
        "note": f"letters settled more than DLQ_RETENTION_DAYS ({settings.DLQ_RETENTION_DAYS}) ago are deleted "
        "by the cleanup job and not counted",
    }


def _degradation(*, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    row = DegradationState.objects.filter().values_list("level", flat=True).first()
    current = row if row is not None else DegradationLevel.NORMAL
    seconds = states_seconds(
        history=DegradationEvent.objects.all(),
        subject=None,
        at="created_at",
        to_state="to_level",
        from_state="from_level",
        since=since,
        until=until,
        current={None: current},
    )[None]
    events = DegradationEvent.objects.filter(created_at__gte=since, created_at__lt=until).order_by()
    by_source = {row["source"]: row["n"] for row in events.values("source").annotate(n=Count("id"))}
    reached = [level for level, value in seconds.items() if value > 0]
    return {
        "seconds_by_level": {
            DegradationLevel(level).slug: round(seconds.get(level, 0.0), 3) for level in DegradationLevel
        },
        "highest_level": DegradationLevel(max(reached)).slug if reached else DegradationLevel(current).slug,
        "changes": sum(by_source.values()),
        "changes_by_source": dict(sorted(by_source.items())),
    }


def reliability_report_build(
    *, since: dt.datetime, until: dt.datetime, progress: Callable[[int, int, str], None] | None = None
) -> dict[str, Any]:
    """The report of ``[since, until)``: breakers, dead letters, degradation, and under
    ``sections`` each registered section (messaging, health).

    ``progress(done, total, step)`` (a door's progress bar) hears of each step once it is done.
    """
    if since >= until:
        raise ValueError("since must be before until")
    report: dict[str, Any] = {
        "period": {"since": _iso(since), "until": _iso(until), "seconds": (until - since).total_seconds()},
        "generated_at": _iso(timezone.now()),
    }
    built_in: list[tuple[str, Callable[..., dict[str, Any]]]] = [
        ("breakers", _breakers),
        ("dead_letters", _dead_letters),
        ("degradation", _degradation),
    ]
    sections = report_sections()
    total = len(built_in) + len(sections)
    for done, (name, build) in enumerate(built_in, start=1):
        report[name] = build(since=since, until=until)
        if progress is not None:
            progress(done, total, name)
    report["sections"] = {}
    for done, section in enumerate(sections, start=len(built_in) + 1):
        report["sections"][section.name] = section.build(since=since, until=until)
        if progress is not None:
            progress(done, total, section.name)
    return report


def report_hour_ending(*, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The last whole hour before ``now``: what the hourly job reports on."""
    until = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return until - dt.timedelta(hours=1), until


def reliability_report_generate(*, now: dt.datetime | None = None) -> ReliabilityReport | None:
    """Build and store the report of the last whole hour; None when it is stored already.

    Also deletes reports older than ``RELIABILITY_REPORT_RETENTION_DAYS``.
    """
    since, until = report_hour_ending(now=now or timezone.now())
    cutoff = until - dt.timedelta(days=settings.RELIABILITY_REPORT_RETENTION_DAYS)
    deleted, _ = ReliabilityReport.objects.filter(period_end__lt=cutoff).delete()
    if ReliabilityReport.objects.filter(period_start=since, period_end=until).exists():
        log.info("reliability_report_exists", since=_iso(since), until=_iso(until), deleted_old=deleted)
        return None
    data = reliability_report_build(since=since, until=until)
    try:
        with transaction.atomic():
            report = ReliabilityReport.objects.create(period_start=since, period_end=until, data=data)
    except IntegrityError:
        return None  # another run stored it meanwhile
    log.info(
        "reliability_report_stored", report_id=report.pk, since=_iso(since), until=_iso(until), deleted_old=deleted
    )
    return report
