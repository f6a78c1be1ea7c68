"""Reads of the dead letter queue for the admin, the ops API, the command and metrics."""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet
from django.utils import timezone

from reliability.dlq.exceptions import (
    DeadLetterNotFound,
    FingerprintAmbiguous,
    FingerprintNotFound,
    FingerprintPrefixInvalid,
)
from reliability.dlq.models import DeadLetter, DeadLetterStatus

# Letters still waiting for a replay or an operator; settled ones are resolved/discarded.
UNSETTLED = (DeadLetterStatus.PENDING, DeadLetterStatus.RETRYING, DeadLetterStatus.EXHAUSTED)
SETTLED = (DeadLetterStatus.RESOLVED, DeadLetterStatus.DISCARDED)


def operator_actionable(*, now: datetime) -> Q:
    """The one rule for which letters an operator may replay, discard or resolve, at ``now``.

    The same for all three actions: pending and exhausted letters, and retrying ones whose
    claim lease has expired (their worker was lost; the next batch would reclaim them
    anyway). Never settled letters, and never one a worker holds under a live lease: its
    outcome is about to be written.
    """
    return Q(status__in=(DeadLetterStatus.PENDING, DeadLetterStatus.EXHAUSTED)) | Q(
        status=DeadLetterStatus.RETRYING, next_retry_at__lte=now
    )


def dead_letter_get(*, letter_id: int) -> DeadLetter:
    """One letter with its attempt history; ``DeadLetterNotFound`` for an unknown id."""
    try:
        return DeadLetter.objects.select_related("settled_by").prefetch_related("history").get(pk=letter_id)
    except (DeadLetter.DoesNotExist, ValueError, TypeError):
        raise DeadLetterNotFound(letter_id) from None


# Fingerprints are sha256 hex; like git's object ids they may be abbreviated to a unique
# prefix of at least FINGERPRINT_PREFIX_MIN characters, and are shown FINGERPRINT_SHORT long.
FINGERPRINT_PREFIX_MIN = 8
FINGERPRINT_SHORT = 12
_FINGERPRINT_PREFIX = re.compile(rf"[0-9a-f]{{{FINGERPRINT_PREFIX_MIN},64}}")
_CANDIDATES_SHOWN = 10


def fingerprint_short(fingerprint: str) -> str:
    """The abbreviated fingerprint the command and the README show."""
    return fingerprint[:FINGERPRINT_SHORT]


def dead_letter_fingerprint_resolve(*, prefix: str) -> str:
    """The one stored fingerprint that starts with ``prefix`` (the command, admin search and API use this).

    ``FingerprintPrefixInvalid`` when ``prefix`` is shorter than ``FINGERPRINT_PREFIX_MIN`` or
    not hexadecimal, ``FingerprintNotFound`` when no letter has it, ``FingerprintAmbiguous``
    (with the candidates and their letter counts) when several fingerprints do.
    """
    prefix = prefix.strip().lower()
    if not _FINGERPRINT_PREFIX.fullmatch(prefix):
        raise FingerprintPrefixInvalid(prefix, minimum=FINGERPRINT_PREFIX_MIN)
    rows = list(
        DeadLetter.objects.filter(fingerprint__startswith=prefix)
        .order_by()
        .values("fingerprint")
        .annotate(count=Count("id"))
        .order_by("-count", "fingerprint")[: _CANDIDATES_SHOWN + 1]
    )
    if not rows:
        raise FingerprintNotFound(prefix)
    if len(rows) > 1:
        shown = rows[:_CANDIDATES_SHOWN]
        width = _distinguishing_length([row["fingerprint"] for row in shown])
        candidates = [(row["fingerprint"][:width], row["count"]) for row in shown]
        raise FingerprintAmbiguous(prefix, candidates, more=len(rows) > _CANDIDATES_SHOWN)
    return rows[0]["fingerprint"]


def _distinguishing_length(fingerprints: list[str]) -> int:
    # Candidates that share more than the short form are shown just long enough to differ.
    ordered = sorted(fingerprints)
    shared = max(len(os.path.commonprefix(pair)) for pair in zip(ordered, ordered[1:], strict=False))
    return max(FINGERPRINT_SHORT, shared + 1)


def dead_letter_list(
    *,
    status: str | list[str] | tuple[str, ...] | None = None,
    message_type: str | None = None,
    fingerprint: str | None = None,
    error_class: str | None = None,
    failure_kind: str | None = None,
    created_before: datetime | None = None,
    search: str | None = None,
    actionable: bool = False,
) -> QuerySet[DeadLetter]:
    """Letters matching every given filter, newest first (the admin's and command's list).

    ``actionable`` keeps the letters an operator may act on now (``operator_actionable``).
    """
    qs = DeadLetter.objects.all()
    if actionable:
        qs = qs.filter(operator_actionable(now=timezone.now()))
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else status)
    if message_type:
        qs = qs.filter(message_type=message_type)
    if fingerprint:
        qs = qs.filter(fingerprint=fingerprint)
    if error_class:
        qs = qs.filter(error_class=error_class)
    if failure_kind:
        qs = qs.filter(failure_kind=failure_kind)
    if created_before is not None:
        qs = qs.filter(created_at__lt=created_before)
    if search:
        qs = qs.filter(error_message__icontains=search)
    return qs.order_by("-created_at", "-id")


def dead_letter_ids(*, limit: int | None = None, **filters: Any) -> list[int]:
    """A snapshot of the ids matching ``filters`` (see ``dead_letter_list``), oldest first.

    Bulk actions act on this snapshot, never on a filter re-evaluated later: letters that
    arrive after the operator looked are not touched.
    """
    qs = dead_letter_list(**filters).order_by("created_at", "id").values_list("id", flat=True)
    return list(qs[:limit] if limit is not None else qs)


def dead_letter_counts() -> list[dict[str, Any]]:
    """``[{status, message_type, count}]`` for every non-empty group."""
    rows = DeadLetter.objects.order_by().values("status", "message_type").annotate(count=Count("id"))
    return sorted(rows, key=lambda row: (row["message_type"], row["status"]))


def dead_letter_counts_by_status() -> dict[str, int]:
    """Count per status, every status present (zeros included)."""
    counts = {status.value: 0 for status in DeadLetterStatus}
    for row in DeadLetter.objects.order_by().values("status").annotate(count=Count("id")):
        counts[row["status"]] = row["count"]
    return counts


def dead_letter_counts_by_type() -> dict[str, dict[str, int]]:
    """``{message_type: {status: count}}`` for the groups present."""
    result: dict[str, dict[str, int]] = {}
    for row in dead_letter_counts():
        result.setdefault(row["message_type"], {})[row["status"]] = row["count"]
    return result


def dead_letter_waiting_at(moment: datetime) -> Q:
    """Letters in the queue at ``moment``: added before it and not settled by then."""
    return Q(created_at__lt=moment) & (Q(settled_at__gte=moment) | Q(settled_at__isnull=True, status__in=UNSETTLED))


def dead_letter_oldest_age_seconds(
    *, statuses: tuple[str, ...] = UNSETTLED, now: datetime | None = None
) -> float | None:
    """Age of the oldest letter in ``statuses`` (default: still waiting), None when there is none."""
    oldest = DeadLetter.objects.filter(status__in=statuses).aggregate(oldest=Min("created_at"))["oldest"]
    if oldest is None:
        return None
    return max(((now or timezone.now()) - oldest).total_seconds(), 0.0)


def dead_letter_groups(
    *, status: str | tuple[str, ...] | None = UNSETTLED, fingerprint: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Letters grouped by fingerprint, largest group first: the same failure counted once.

    Each group: fingerprint, message_type, error_class, failure_kind, count, first_seen,
    last_seen. The admin's "replay all with this fingerprint" acts on one group.
    """
    qs = DeadLetter.objects.order_by()
    if fingerprint:
        qs = qs.filter(fingerprint=fingerprint)
    if status:
        qs = qs.filter(status__in=[status] if isinstance(status, str) else status)
    rows = (
        qs.values("fingerprint", "message_type", "error_class", "failure_kind")
        .annotate(count=Count("id"), first_seen=Min("created_at"), last_seen=Max("created_at"))
        .order_by("-count", "fingerprint")
    )
    return list(rows[:limit])


def dead_letter_summary(*, now: datetime | None = None) -> dict[str, Any]:
    """What the ops API and ``/health/dlq`` show: counts, backlog and the oldest waiting age."""
    by_status = dead_letter_counts_by_status()
    return {
        "by_status": by_status,
        "by_type": dead_letter_counts_by_type(),
        "backlog": sum(by_status[s] for s in UNSETTLED),
        "oldest_age_seconds": dead_letter_oldest_age_seconds(now=now),
    }


def dead_letter_backlog_status(*, now: datetime | None = None) -> dict[str, Any]:
    """The summary plus ``warn`` flags against ``DLQ_BACKLOG_WARN`` / ``DLQ_OLDEST_AGE_WARN_SECONDS``."""
    from django.conf import settings

    summary = dead_letter_summary(now=now)
    age = summary["oldest_age_seconds"] or 0.0
    summary["backlog_warn"] = summary["backlog"] > settings.DLQ_BACKLOG_WARN
    summary["oldest_age_warn"] = age > settings.DLQ_OLDEST_AGE_WARN_SECONDS
    summary["warn"] = summary["backlog_warn"] or summary["oldest_age_warn"]
    summary["thresholds"] = {
        "backlog": settings.DLQ_BACKLOG_WARN,
        "oldest_age_seconds": settings.DLQ_OLDEST_AGE_WARN_SECONDS,
    }
    return summary


def dead_letter_to_dict(letter: DeadLetter, *, with_history: bool = False) -> dict[str, Any]:
    """A JSON-ready view of one letter (every stored field is already redacted)."""
    data: dict[str, Any] = {
        "id": letter.pk,
        "message_type": letter.message_type,
        "status": letter.status,
        "failure_kind": letter.failure_kind,
        "source": letter.source,
        "error_class": letter.error_class,
        "error_message": letter.error_message,
        "fingerprint": letter.fingerprint,
        "breaker_name": letter.breaker_name,
        "attempts": letter.attempts,
        "max_retries": letter.max_retries,
        "next_retry_at": _iso(letter.next_retry_at),
        "created_at": _iso(letter.created_at),
        "updated_at": _iso(letter.updated_at),
        "settled_at": _iso(letter.settled_at),
        "settled_by": letter.settled_by.get_username() if letter.settled_by_id else None,
        "settled_reason": letter.settled_reason,
        "payload": letter.payload,
        "first_error": letter.first_error,
    }
    if with_history:
        data["traceback"] = letter.traceback
        data["history"] = [
            {
                "attempted_at": _iso(attempt.attempted_at),
                "outcome": attempt.outcome,
                "failure_kind": attempt.failure_kind,
                "error_class": attempt.error_class,
                "reason": attempt.reason,
            }
            for attempt in letter.history.all()
        ]
    return data


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
