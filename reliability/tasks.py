"""Celery tasks of the reliability layer, and the base class that sends failed tasks to the DLQ.

Capture is by base class, not by signal: a task declared with ``base=ReliableTask``
lands in the dead letter queue when it fails for good (its retries exhausted, or a
permanent error), with its name as ``source``, its arguments as payload, its error and
traceback, redacted. A signal handler would capture every task in the process,
maintenance jobs included, whose failures are better retried by their next run.

Task names are explicit and stable: periodic task rows store them.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import Task, shared_task
from django.conf import settings

from reliability.dlq.locks import job_lock
from reliability.dlq.registry import register_handler
from reliability.dlq.services import (
    dead_letter_add,
    dead_letter_cleanup,
    dead_letter_replay_batch,
    dead_letter_replay_many,
    get_failed_message_processor,
)

log = structlog.get_logger(__name__)

# When a failed task cannot be stored in the DLQ, it is sent again this much later.
CAPTURE_RETRY_SECONDS = 60


def replay_captured_task(payload: dict[str, Any]) -> Any:
    """Replay handler of captured tasks: run the task named in the payload, here and now.

    Dispatching on the payload (not on the message type) keeps tasks that share a
    ``dlq_message_type`` apart; the task's outcome is the replay's outcome.
    """
    from celery import current_app

    return current_app.tasks[payload["task"]](*payload.get("args", []), **payload.get("kwargs", {}))


class ReliableTask(Task):
    """A task whose final failure becomes a dead letter instead of a log line.

    ``dlq_message_type`` (default: the task name) picks the replay handler. Unless the
    owning app registers its own handler for that type, replay runs the task again with
    the stored arguments; the payload is ``{"task", "task_id", "args", "kwargs"}``.
    When the letter cannot be stored (database down), the task is sent again
    ``CAPTURE_RETRY_SECONDS`` later rather than dropped.
    """

    dlq_message_type: str | None = None
    dlq_max_retries: int = 5

    @classmethod
    def on_bound(cls, app: Any) -> None:
        if cls.name:
            register_handler(cls.dlq_message_type or cls.name, replay_captured_task, replace=False)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        try:
            letter = dead_letter_add(
                message_type=self.dlq_message_type or self.name,
                payload={"task": self.name, "task_id": task_id, "args": list(args or ()), "kwargs": dict(kwargs or {})},
                error=exc,
                source=self.name,
                max_retries=self.dlq_max_retries,
                traceback_text=str(einfo.traceback) if einfo is not None else None,
                dedupe_key=f"celery:{task_id}",
            )
        except Exception as capture_error:
            # The database is down: keep the message in the broker instead, to run again
            # (and, failing again, be captured) once the DLQ can take it.
            log.error(
                "dead_letter_capture_failed",
                task_name=self.name,
                task_id=task_id,
                error_class=type(capture_error).__name__,
                requeued_in=CAPTURE_RETRY_SECONDS,
            )
            self.apply_async(args=args, kwargs=kwargs, countdown=CAPTURE_RETRY_SECONDS)
            return
        log.warning("task_dead_lettered", task_name=self.name, task_id=task_id, letter_id=letter.pk)


def _all_held_back(stats: dict[str, int]) -> bool:
    # Every claimed letter went back over the replay rate: the next run picks them up.
    return stats["released"] == stats["claimed"]


@shared_task(name="process_dead_letter_queue_batch", ignore_result=True)
def process_dead_letter_queue_batch(batch_size: int = 20, max_batches: int = 50) -> dict[str, Any]:
    """Beat job (every 5 minutes): replay due letters with the recovery strategies.

    Takes batches until none is full or ``max_batches`` ran, under a lock so that an
    overlapping run (a slow one, a second beat) skips instead of competing.
    """
    with job_lock("process_dead_letter_queue_batch", timeout=settings.DLQ_CLAIM_LEASE_SECONDS) as acquired:
        if not acquired:
            log.info("dlq_batch_skipped", reason="another run holds the lock")
            return {"skipped": True}
        processor = get_failed_message_processor()
        totals: dict[str, Any] = {"skipped": False, "batches": 0}
        for _ in range(max_batches):
            stats = processor.process_dlq_with_strategies(batch_size=batch_size)
            totals["batches"] += 1
            for key, value in stats.items():
                totals[key] = totals.get(key, 0) + value
            if stats["claimed"] < batch_size or _all_held_back(stats):
                break
        return totals


@shared_task(name="cleanup_old_dlq_messages", ignore_result=True)
def cleanup_old_dlq_messages(max_age_days: int | None = None) -> dict[str, Any]:
    """Beat job (daily): delete resolved/discarded letters older than ``DLQ_RETENTION_DAYS``."""
    with job_lock("cleanup_old_dlq_messages", timeout=3600) as acquired:
        if not acquired:
            log.info("dlq_cleanup_skipped", reason="another run holds the lock")
            return {"skipped": True}
        return {"skipped": False, "deleted": dead_letter_cleanup(older_than_days=max_age_days)}


@shared_task(name="replay_dead_letter_batch", ignore_result=True)
def replay_dead_letter_batch(
    batch_size: int = 100, message_type: str | None = None, max_batches: int = 100
) -> dict[str, int]:
    """Drain due letters in batches; no lock, as any number of workers may do this at once."""
    totals: dict[str, int] = {}
    for _ in range(max_batches):
        stats = dead_letter_replay_batch(batch_size=batch_size, message_type=message_type)
        for key, value in stats.items():
            totals[key] = totals.get(key, 0) + value
        if stats["claimed"] == 0 or _all_held_back(stats):
            break
    return totals


@shared_task(name="replay_dead_letters", ignore_result=True)
def replay_dead_letters(
    letter_ids: list[int], actor_id: int | None = None, channel: str = "admin", rate: float | None = None
) -> dict[str, Any]:
    """An operator's bulk replay, run in a worker so a large selection does not hold a request."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id is not None else None
    return dead_letter_replay_many(letter_ids=letter_ids, actor=actor, channel=channel, rate=rate).as_dict()
