"""Celery tasks of messaging: thin doors onto the services, with explicit, stable names.

Each takes a row id, and the service reloads the row and refuses it when it is in the
wrong state, so a redelivered message (acks_late) or a second copy sent by the sweeper
does no harm. Final failures become dead letters through ``ReliableTask``; the handlers
that replay them are registered in ``messaging.dlq``.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from messaging.services.dispatch import PROCESS_TASK, RELEASE_TASK, SEND_TASK, SWEEP_TASK
from messaging.services.outbox import outbound_send
from messaging.services.pipeline import webhook_event_process
from messaging.services.release import held_work_release
from messaging.services.sweeper import outbox_sweep
from reliability.dlq.locks import job_lock
from reliability.tasks import ReliableTask

INBOUND_MESSAGE_TYPE = "inbound_processing"
OUTBOUND_MESSAGE_TYPE = "whatsapp_message"


class InboundTask(ReliableTask):
    dlq_message_type = INBOUND_MESSAGE_TYPE
    # A database that blinks is retried here; anything else, or a database down for
    # minutes, becomes a dead letter whose replay processes the event again.
    autoretry_for = (OperationalError, InterfaceError)
    max_retries = 5
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True


class OutboundTask(ReliableTask):
    dlq_message_type = OUTBOUND_MESSAGE_TYPE
    # The row's attempt count bounds the retries (OUTBOX_MAX_ATTEMPTS), not Celery's:
    # waiting for an open breaker spends no attempt and may take many rounds.
    max_retries = None


@shared_task(base=InboundTask, name=PROCESS_TASK)
def process_webhook_event(event_id: int) -> str:
    return webhook_event_process(event_id=event_id)


@shared_task(base=OutboundTask, bind=True, name=SEND_TASK)
def send_outbound_message(self, outbound_id: int) -> str:
    attempt = outbound_send(outbound_id=outbound_id)
    if attempt.outcome in ("retry", "deferred"):
        raise self.retry(countdown=attempt.countdown)
    if attempt.outcome in ("rejected", "exhausted") and attempt.error is not None:
        raise attempt.error
    return attempt.outcome  # "held" too: the release sends the row, no retry needed


@shared_task(name=SWEEP_TASK, ignore_result=True)
def sweep_outbox() -> dict:
    """Beat job (every minute): see ``messaging.services.sweeper``; a run still going means this one skips."""
    with job_lock(SWEEP_TASK, timeout=300) as acquired:
        if not acquired:
            return {"skipped": True}
        return {"skipped": False, **outbox_sweep()}


@shared_task(name=RELEASE_TASK, ignore_result=True)
def release_held_work() -> dict:
    """Enqueued when the degradation level drops: see ``messaging.services.release`` (the sweeper runs the same)."""
    return held_work_release()
