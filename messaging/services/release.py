"""Work the degradation gates held back, and its release once they allow it again.

What is held (``DEGRADATION_FEATURES``, DESIGN 7):

- events stored while ``webhook_processing`` is off, and incoming texts while
  ``auto_replies`` is off: status ``held`` (``ingest``, ``pipeline``);
- outbound rows while ``outbound_sending`` is off: ``queued``, marked by ``held_at``
  (``outbox``).

``held_work_release`` hands back what the gates allow now, one bounded batch of each kind
per run, under the maintenance lock: held events go back to ``pending``, held rows lose
their mark, each claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` and given its task
after the commit, so two releases never hand on the same row. A full batch enqueues the
next run. Two doors run it, so that nothing held depends on one of them:

- the task ``messaging.release_held_work``, which ``release_on_level_drop`` enqueues when
  the level drops. The signal is sent only in the process that changed the level (the
  monitor's, or an operator's request or command), and only if its broker takes the task;
- every run of the outbox sweeper, which also catches a hold that raced with a release
  (a task that decided to hold just before the level dropped).

Should a task's publish fail, its row is pending (or queued, unmarked) and the sweeper's
re-dispatch sends it again: released work is never held again by the release itself.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from messaging.models import OutboundMessage, ProcessingStatus, WebhookEvent
from messaging.selectors import outbound_held, webhook_events_held
from messaging.services.dispatch import PROCESS_TASK, RELEASE_TASK, SEND_TASK, task_enqueue
from reliability.degradation.gates import allows_now
from reliability.dlq.locks import job_lock

log = structlog.get_logger(__name__)

RELEASE_LOCK_SECONDS = 300


def held_work_release(*, batch: int | None = None) -> dict[str, Any]:
    """Hand back up to ``batch`` (``OUTBOX_SWEEP_BATCH``) held events and as many held
    outbound rows as the gates allow now; skipped while another run holds the lock."""
    size = batch or settings.OUTBOX_SWEEP_BATCH
    with job_lock(RELEASE_TASK, timeout=RELEASE_LOCK_SECONDS) as acquired:
        if not acquired:
            return {"skipped": True}
        events = _events_release(size) if allows_now("webhook_processing") else 0
        outbound = _outbound_release(size) if allows_now("outbound_sending") else 0
    more = size in (events, outbound)
    if events or outbound:
        log.info("held_work_released", events=events, outbound=outbound, more=more)
    if more:
        task_enqueue(task_name=RELEASE_TASK, args=[])
    return {"skipped": False, "events_released": events, "outbound_released": outbound, "more": more}


def _events_release(size: int) -> int:
    held = webhook_events_held(incoming=allows_now("auto_replies"))
    with transaction.atomic():
        ids = list(held.select_for_update(skip_locked=True).values_list("id", flat=True)[:size])
        if ids:
            WebhookEvent.objects.filter(pk__in=ids).update(processing_status=ProcessingStatus.PENDING)
            transaction.on_commit(lambda: _enqueue_each(PROCESS_TASK, ids))
    return len(ids)


def _outbound_release(size: int) -> int:
    with transaction.atomic():
        ids = list(outbound_held().select_for_update(skip_locked=True).values_list("id", flat=True)[:size])
        if ids:
            now = timezone.now()
            # Back in the queue from now: the sweeper re-sends it only if nobody picks it up.
            OutboundMessage.objects.filter(pk__in=ids).update(
                held_at=None, next_attempt_at=None, queued_at=now, last_error="", updated_at=now
            )
            transaction.on_commit(lambda: _enqueue_each(SEND_TASK, ids))
    return len(ids)


def _enqueue_each(task_name: str, ids: list[int]) -> None:
    for row_id in ids:
        if not task_enqueue(task_name=task_name, args=[row_id]):
            return  # the broker is down: the sweeper re-dispatches the rest, and this one


def release_on_level_drop(*, old_level: int, new_level: int, **kwargs: Any) -> None:
    """``degradation_level_changed`` receiver (``MessagingConfig.ready``): a drop may open
    gates, so the release task is enqueued. Quick by design: the work is a worker's."""
    if new_level < old_level:
        task_enqueue(task_name=RELEASE_TASK, args=[])
