"""Claiming due letters for replay, so that workers never handle the same letter at once.

PostgreSQL: one statement, ``SELECT ... FOR UPDATE SKIP LOCKED`` over the partial index
``deadletter_claim_idx`` feeding an ``UPDATE ... RETURNING``; concurrent workers skip each
other's rows instead of waiting. Elsewhere (SQLite, whose writers are serialised anyway):
select the candidates, then a conditional ``UPDATE`` that only changes rows still due,
and read back the rows that now carry this claim's lease.

A claim sets ``status = retrying`` and ``next_retry_at`` to the lease's end, and spends
one attempt. The lease value doubles as the claim's token: outcomes are written only
where ``next_retry_at`` still equals it, so a worker that overran its lease cannot
overwrite the result of the worker that reclaimed the letter. A worker that dies
mid-batch leaves ``retrying`` rows whose lease expires; the next claim takes them back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from reliability.dlq.models import REPLAYABLE, DeadLetter, DeadLetterAttempt, DeadLetterStatus


@dataclass(frozen=True)
class ClaimedLetter:
    id: int
    message_type: str
    payload: Any
    # Attempts spent, this claim's included.
    attempts: int
    max_retries: int
    # The letter was ``retrying`` under an expired lease: its previous worker was lost.
    reclaimed: bool


def claim_select_sql(*, by_type: bool = False) -> str:
    """The candidate query of the PostgreSQL claim (also what EXPLAIN is run on)."""
    table = DeadLetter._meta.db_table
    type_filter = "AND message_type = %(message_type)s" if by_type else ""
    return (
        f"SELECT id, status FROM {table} "
        f"WHERE status IN ('pending', 'retrying') AND next_retry_at <= %(now)s {type_filter} "
        "ORDER BY next_retry_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
    )


def _postgres_claim_sql(*, by_type: bool) -> str:
    table = DeadLetter._meta.db_table
    return (
        f"WITH due AS ({claim_select_sql(by_type=by_type)}) "
        f"UPDATE {table} AS d SET status = 'retrying', next_retry_at = %(lease)s, "
        "attempts = d.attempts + 1, updated_at = %(now)s "
        "FROM due WHERE d.id = due.id "
        "RETURNING d.id, d.message_type, d.payload, d.attempts, d.max_retries, due.status"
    )


def _decode(payload: Any) -> Any:
    return json.loads(payload) if isinstance(payload, str | bytes) else payload


def claim_due_letters(
    *, limit: int, now: datetime, lease_until: datetime, message_type: str | None = None
) -> list[ClaimedLetter]:
    """Claim up to ``limit`` letters due at ``now``, oldest due first."""
    if limit <= 0:
        return []
    if connection.vendor == "postgresql":
        params = {"now": now, "lease": lease_until, "limit": limit, "message_type": message_type}
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_postgres_claim_sql(by_type=message_type is not None), params)
            rows = cursor.fetchall()
        claimed = [
            ClaimedLetter(row[0], row[1], _decode(row[2]), row[3], row[4], row[5] == DeadLetterStatus.RETRYING)
            for row in rows
        ]
        return sorted(claimed, key=lambda letter: letter.id)
    return _conditional_update_claim(limit=limit, now=now, lease_until=lease_until, message_type=message_type)


def _conditional_update_claim(
    *, limit: int, now: datetime, lease_until: datetime, message_type: str | None
) -> list[ClaimedLetter]:
    due = DeadLetter.objects.filter(status__in=REPLAYABLE, next_retry_at__lte=now)
    if message_type is not None:
        due = due.filter(message_type=message_type)
    with transaction.atomic():
        candidates = dict(due.order_by("next_retry_at", "id").values_list("id", "status")[:limit])
        if not candidates:
            return []
        due.filter(id__in=candidates).update(
            status=DeadLetterStatus.RETRYING, next_retry_at=lease_until, attempts=F("attempts") + 1, updated_at=now
        )
        rows = (
            DeadLetter.objects.filter(id__in=candidates, status=DeadLetterStatus.RETRYING, next_retry_at=lease_until)
            .order_by("id")
            .values_list("id", "message_type", "payload", "attempts", "max_retries")
        )
        return [ClaimedLetter(*row, reclaimed=candidates[row[0]] == DeadLetterStatus.RETRYING) for row in rows]


def resolve_claimed(*, letter_ids: list[int], lease_until: datetime, now: datetime) -> set[int]:
    """Mark the claimed letters resolved, with a history row each; returns the ids still held.

    Letters whose lease was taken over by another worker are left alone. On PostgreSQL
    this is one statement (the hot path of a replay batch); elsewhere, three.
    """
    if not letter_ids:
        return set()
    if connection.vendor == "postgresql":
        sql = (
            f"WITH done AS (UPDATE {DeadLetter._meta.db_table} SET status = 'resolved', next_retry_at = NULL, "
            "settled_at = %(now)s, settled_reason = 'replayed', updated_at = %(now)s "
            "WHERE id = ANY(%(ids)s) AND status = 'retrying' AND next_retry_at = %(lease)s RETURNING id) "
            f"INSERT INTO {DeadLetterAttempt._meta.db_table} "
            "(letter_id, attempted_at, error_class, reason, failure_kind, outcome) "
            "SELECT id, %(now)s, '', 'replayed', '', 'succeeded' FROM done RETURNING letter_id"
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, {"ids": list(letter_ids), "lease": lease_until, "now": now})
            return {row[0] for row in cursor.fetchall()}
    with transaction.atomic():
        held = DeadLetter.objects.select_for_update().filter(
            id__in=letter_ids, status=DeadLetterStatus.RETRYING, next_retry_at=lease_until
        )
        ids = set(held.values_list("id", flat=True))
        DeadLetter.objects.filter(id__in=ids).update(
            status=DeadLetterStatus.RESOLVED,
            next_retry_at=None,
            settled_at=now,
            settled_reason="replayed",
            updated_at=now,
        )
        DeadLetterAttempt.objects.bulk_create(
            [
                DeadLetterAttempt(
                    letter_id=i, attempted_at=now, outcome=DeadLetterAttempt.Outcome.SUCCEEDED, reason="replayed"
                )
                for i in sorted(ids)
            ]
        )
    return ids
