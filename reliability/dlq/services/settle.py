"""Settling dead letters: an operator discards or resolves them; old settled ones are cleaned up."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from reliability.audit import actor_label, audit_record
from reliability.dlq.models import DeadLetter, DeadLetterAttempt, DeadLetterStatus
from reliability.dlq.selectors import SETTLED, operator_actionable
from reliability.dlq.services.bulk import BulkResult, _snapshot
from reliability.dlq.services.replay import SYSTEM

log = structlog.get_logger(__name__)
_LOG_EVENTS = {"discard": "dead_letters_discarded", "resolve": "dead_letters_resolved"}


def _settle(
    *,
    action: str,
    status: str,
    letter_ids: Iterable[int],
    reason: str,
    actor: Any,
    channel: str,
    dry_run: bool,
) -> BulkResult:
    ids, found, planned = _snapshot(letter_ids, action=action)
    result = BulkResult(action, dry_run, ids, planned)
    if dry_run:
        return result
    user = actor if getattr(actor, "is_authenticated", False) else None
    now = timezone.now()
    with transaction.atomic():
        eligible = [i for i in ids if planned[i] == action]
        locked = set(
            DeadLetter.objects.select_for_update()
            .filter(operator_actionable(now=now), id__in=eligible)
            .values_list("id", flat=True)
        )
        DeadLetter.objects.filter(id__in=locked).update(
            status=status, next_retry_at=None, settled_at=now, settled_by=user, settled_reason=reason, updated_at=now
        )
        for i in ids:
            if planned[i] == action and i not in locked:
                planned[i] = "skip: changed since the snapshot"
            elif i in locked and channel != SYSTEM:
                audit_record(
                    actor=actor,
                    channel=channel,
                    action=f"dead_letter.{action}",
                    target_type="dead_letter",
                    target_id=i,
                    reason=reason,
                    detail={"previous_status": found[i].status},
                )
    log.info(
        _LOG_EVENTS[action],
        count=len(locked),
        skipped=len(ids) - len(locked),
        actor=actor_label(actor=actor, channel=channel),
        reason=reason,
    )
    return result


def dead_letter_discard(
    *, letter_ids: Iterable[int], reason: str, actor: Any = None, channel: str = SYSTEM, dry_run: bool = False
) -> BulkResult:
    """Give up on letters for good (those ``operator_actionable``); ``reason`` is required (``ValueError``)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("a reason is required to discard dead letters")
    return _settle(
        action="discard",
        status=DeadLetterStatus.DISCARDED,
        letter_ids=letter_ids,
        reason=reason,
        actor=actor,
        channel=channel,
        dry_run=dry_run,
    )


def dead_letter_resolve(
    *, letter_ids: Iterable[int], reason: str = "", actor: Any = None, channel: str = SYSTEM, dry_run: bool = False
) -> BulkResult:
    """Mark letters resolved by hand (the work was done another way)."""
    return _settle(
        action="resolve",
        status=DeadLetterStatus.RESOLVED,
        letter_ids=letter_ids,
        reason=(reason or "").strip() or "resolved by an operator",
        actor=actor,
        channel=channel,
        dry_run=dry_run,
    )


# --- Maintenance -------------------------------------------------------------------------


def dead_letter_cleanup(*, older_than_days: int | None = None, chunk_size: int = 1000) -> int:
    """Delete resolved and discarded letters settled more than the retention ago; never open ones.

    Deletes in chunks so no transaction holds many rows. Returns how many letters went.
    """
    days = older_than_days if older_than_days is not None else settings.DLQ_RETENTION_DAYS
    if days < 0:
        raise ValueError("older_than_days must be zero or more")
    cutoff = timezone.now() - timedelta(days=days)
    old = DeadLetter.objects.filter(status__in=SETTLED).filter(
        Q(settled_at__lt=cutoff) | Q(settled_at__isnull=True, updated_at__lt=cutoff)
    )
    deleted = 0
    while ids := list(old.order_by("id").values_list("id", flat=True)[:chunk_size]):
        with transaction.atomic():
            DeadLetterAttempt.objects.filter(letter_id__in=ids).delete()
            deleted += (
                DeadLetter.objects.filter(id__in=ids, status__in=SETTLED).delete()[1].get(DeadLetter._meta.label, 0)
            )
    log.info("dead_letters_cleaned_up", deleted=deleted, older_than_days=days)
    return deleted
