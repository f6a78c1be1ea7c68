"""The outbox sweeper (beat, every minute, under a lock): work nobody picked up, and unknowns.

1. events still ``pending`` long after they were stored: their task was lost (the broker
   was down when the webhook committed): sent again;
2. outbound rows ``queued`` long past their time: sent again (a second task for a row is
   harmless: the claim lets one through);
3. rows ``sending`` for longer than any live task can run: their worker died, so they
   become ``unknown`` (they may have been sent);
4. ``unknown`` rows are reconciled (stored webhooks, then one ``lastOutgoingMessages``
   read), and the surely absent ones sent again;
5. rows still unknown when the journal can no longer show them (a day) are failed into the
   dead letter queue with the reason, for an operator: nothing is left to witness them;
6. work the degradation gates held back is released when they allow it again
   (``messaging.services.release``: the same pass the level-drop task runs).

Every step is bounded by ``OUTBOX_SWEEP_BATCH``; the rest waits for the next run.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from django.conf import settings
from django.utils import timezone

from messaging import metrics
from messaging.models import OutboundMessage, OutboundStatus
from messaging.selectors import (
    outbound_queued_overdue,
    outbound_sending_stale,
    outbound_unknown_since,
    webhook_events_unprocessed,
)
from messaging.services.dispatch import PROCESS_TASK, SEND_TASK, SWEEP_TASK, task_enqueue
from messaging.services.outbox import outbound_mark_lost
from messaging.services.reconcile import MAX_JOURNAL_MINUTES, outbox_reconcile_unknown
from messaging.services.release import held_work_release
from reliability.dlq.services import dead_letter_add
from reliability.errors import PermanentError

log = structlog.get_logger(__name__)

# Unknown for this long: beyond what lastOutgoingMessages can still show.
GIVE_UP_AFTER = timedelta(minutes=MAX_JOURNAL_MINUTES) - timedelta(minutes=30)


class OutcomeNeverSettled(PermanentError):
    """A send whose outcome no webhook and no journal read could settle within a day."""


def outbox_sweep() -> dict[str, int]:
    """One sweep (see the module's list); returns what each step did."""
    now = timezone.now()
    batch = settings.OUTBOX_SWEEP_BATCH
    overdue = now - timedelta(seconds=settings.OUTBOX_REDISPATCH_AFTER_SECONDS)
    stats = {
        "events_redispatched": sum(
            task_enqueue(task_name=PROCESS_TASK, args=[event_id])
            for event_id in webhook_events_unprocessed(received_before=overdue, limit=batch)
        ),
        "outbound_redispatched": sum(
            task_enqueue(task_name=SEND_TASK, args=[outbound_id])
            for outbound_id in outbound_queued_overdue(due_before=overdue, limit=batch)
        ),
        "outbound_lost": sum(
            outbound_mark_lost(outbound_id=outbound_id, attempts=attempts)
            for outbound_id, attempts in outbound_sending_stale(
                claimed_before=now - timedelta(seconds=settings.OUTBOX_SENDING_STALE_SECONDS), limit=batch
            )
        ),
        "outbound_given_up": sum(
            _give_up(outbound_id, attempts)
            for outbound_id, attempts in outbound_unknown_since(before=now - GIVE_UP_AFTER, limit=batch)
        ),
    }
    stats.update({f"reconcile_{key}": value for key, value in outbox_reconcile_unknown(limit=batch).items()})
    released = held_work_release(batch=batch)
    stats.update(
        events_released=released.get("events_released", 0), outbound_released=released.get("outbound_released", 0)
    )
    if any(stats.values()):
        log.info("outbox_swept", **stats)
    return stats


def _give_up(outbound_id: int, attempts: int) -> bool:
    now = timezone.now()
    reason = "outcome unknown for a day: no webhook and no journal read settled it; in the dead letter queue"
    moved = OutboundMessage.objects.filter(pk=outbound_id, status=OutboundStatus.UNKNOWN, attempts=attempts).update(
        status=OutboundStatus.FAILED, failed_at=now, last_error=reason, updated_at=now
    )
    if not moved:
        return False
    metrics.outbound_transition(OutboundStatus.UNKNOWN, OutboundStatus.FAILED)
    dead_letter_add(
        message_type="whatsapp_message",
        payload={"task": SEND_TASK, "args": [outbound_id], "kwargs": {}},
        error=OutcomeNeverSettled(f"outbound #{outbound_id}: {reason}"),
        source=SWEEP_TASK,
        dedupe_key=f"outbound-unsettled:{outbound_id}:{attempts}",
    )
    log.error("outbound_outcome_never_settled", outbound_id=outbound_id)
    return True
