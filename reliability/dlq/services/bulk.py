"""Bulk operator actions on an explicit snapshot of ids, and replaying such a selection.

``BulkResult`` and ``_snapshot`` are shared with ``settle`` (discard, resolve).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import structlog
from django.conf import settings
from django.db.models import Case, Value, When
from django.utils import timezone

from reliability.dlq.exceptions import DeadLetterNotFound, DeadLetterStateError
from reliability.dlq.models import DeadLetter
from reliability.dlq.ratelimit import replay_rate_limiter
from reliability.dlq.selectors import operator_actionable
from reliability.dlq.services.replay import SYSTEM, ReplayResult, dead_letter_replay, past_deadline

log = structlog.get_logger(__name__)


@dataclass
class BulkResult:
    """The outcome of a bulk action on an explicit snapshot of ids.

    ``planned`` maps each id to what was (or, in a dry run, would be) done: ``replay``,
    ``discard``, ``resolve`` or ``skip: <status>``. ``failed`` lists the ids that were
    skipped or whose replay did not resolve them; ``unstarted`` those planned for a replay
    that the deadline left for another run.
    """

    action: str
    dry_run: bool
    letter_ids: list[int]
    planned: dict[int, str]
    results: list[ReplayResult] = field(default_factory=list)
    unstarted: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        """How many letters the action applies to (skipped ones excluded)."""
        return sum(1 for plan in self.planned.values() if not plan.startswith("skip"))

    @property
    def skipped(self) -> list[int]:
        return [i for i, plan in self.planned.items() if plan.startswith("skip")]

    @property
    def failed(self) -> list[int]:
        return self.skipped + [r.letter_id for r in self.results if self.action == "replay" and not r.resolved]

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "count": self.count,
            "letter_ids": self.letter_ids,
            "planned": {str(i): plan for i, plan in self.planned.items()},
            "skipped": self.skipped,
            "failed": self.failed,
            "unstarted": self.unstarted,
            "results": [{"id": r.letter_id, "outcome": r.outcome, "status": r.status} for r in self.results],
        }


class _Snapshot(NamedTuple):
    status: str
    message_type: str
    # ``operator_actionable`` when the snapshot was taken.
    actionable: bool


def _snapshot(letter_ids: Iterable[int], *, action: str) -> tuple[list[int], dict[int, _Snapshot], dict[int, str]]:
    """The ids (deduplicated), each letter's state now, and the plan: ``action`` or ``skip: <status>``."""
    ids = list(dict.fromkeys(int(i) for i in letter_ids))
    if not ids:
        raise ValueError("no dead letter ids given")
    actionable = Case(When(operator_actionable(now=timezone.now()), then=Value(True)), default=Value(False))
    rows = (
        DeadLetter.objects.filter(id__in=ids)
        .annotate(actionable=actionable)
        .values_list("id", "status", "message_type", "actionable")
    )
    found = {row[0]: _Snapshot(*row[1:]) for row in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise DeadLetterNotFound(missing)
    planned = {i: action if found[i].actionable else f"skip: {found[i].status}" for i in ids}
    return ids, found, planned


def dead_letter_replay_many(
    *,
    letter_ids: Iterable[int],
    actor: Any = None,
    channel: str = SYSTEM,
    dry_run: bool = False,
    rate: float | None = None,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int, int, str], None] | None = None,
) -> BulkResult:
    """Replay an explicit list of letters, at most ``rate`` per second per type.

    Unknown ids refuse the whole action (``DeadLetterNotFound``) before anything runs;
    letters an operator may not act on (``operator_actionable``) are skipped and reported.
    No replay starts after ``deadline`` (a ``clock()`` time): the rest are ``unstarted``.
    ``progress(done, total, note)`` hears of each letter handled (a command's progress bar).
    """
    ids, found, planned = _snapshot(letter_ids, action="replay")
    result = BulkResult("replay", dry_run, ids, planned)
    if dry_run:
        return result
    rate = rate if rate is not None else settings.DLQ_REPLAY_RATE_PER_TYPE
    limiter = replay_rate_limiter()
    total, done = result.count, 0
    for position, i in enumerate(ids):
        if planned[i] != "replay":
            continue
        grant = limiter.take(found[i].message_type, 1, rate)
        while grant.granted == 0 and not past_deadline(deadline, clock, after=grant.wait):
            sleep(grant.wait)
            grant = limiter.take(found[i].message_type, 1, rate)
        if grant.granted == 0 or past_deadline(deadline, clock):
            result.unstarted = [j for j in ids[position:] if planned[j] == "replay"]
            log.warning("dead_letter_replay_many_stopped", unstarted=len(result.unstarted), why="deadline")
            break
        try:
            result.results.append(dead_letter_replay(letter_id=i, actor=actor, channel=channel))
        except DeadLetterStateError as exc:
            planned[i] = f"skip: {exc.status}"  # changed state since the snapshot
        done += 1
        if progress is not None:
            progress(done, total, f"#{i}")
    return result
