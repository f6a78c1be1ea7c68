"""Celery tasks of the reliability layer, and the base class that sends failed tasks to the DLQ.

Capture is by base class, not by signal: a task declared with ``base=ReliableTask``
lands in the dead letter queue when it fails for good (its retries exhausted, or a
permanent error), with its name as ``source``, its arguments as payload, its error and
traceback, redacted. A signal handler would capture every task in the process,
maintenance jobs included, whose failures are better retried by their next run.

Task names are explicit and stable: periodic task rows store them.

The replay tasks run under Celery's time limits. Each computes one deadline when it
starts (``task_deadline``) and the services stop claiming and starting work after it,
so a run ends by itself instead of being interrupted mid-handler.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from celery import Task, shared_task
from django.conf import settings

from reliability.breaker.services import breaker_monitor_run
from reliability.degradation.services import degradation_monitor_run
from reliability.dlq.locks import job_lock
from reliability.dlq.registry import register_handler
from reliability.dlq.services import (
    dead_letter_add,
    dead_letter_cleanup,
    dead_letter_replay_due,
    dead_letter_replay_many,
)
from reliability.reports.services import reliability_report_generate

log = structlog.get_logger(__name__)

# When a failed task cannot be stored in the DLQ, it is sent again this much later.
CAPTURE_RETRY_SECONDS = 60
# The share of a run's time limit kept back after its deadline, for the handler already
# running when the deadline passes and for recording the outcomes.
TIME_LIMIT_RESERVE = 0.25


def task_deadline(task: Task, *, clock: Callable[[], float] = time.monotonic) -> float | None:
    """When this run of ``task`` must stop starting work, as a ``clock()`` time; None without a time limit.

    The limit is the first of the soft and hard limits this run has, as the worker applies
    them: given with the call, else the task's (which default to the app's settings).
    """
    hard, soft = task.request.timelimit or (None, None)
    limit = min((value for value in (soft or task.soft_time_limit, hard or task.time_limit) if value), default=None)
    return clock() + limit * (1 - TIME_LIMIT_RESERVE) if limit else None


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


@shared_task(bind=True, name="process_dead_letter_queue_batch", ignore_result=True)
def process_dead_letter_queue_batch(self: Task, batch_size: int = 20, max_batches: int = 50) -> dict[str, Any]:
    """Beat job (every 5 minutes): replay due letters with the recovery strategies.

    Takes batches until none is left, ``max_batches`` ran or its deadline passed, under a
    lock so that an overlapping run (a slow one, a second beat) skips instead of competing.
    """
    with job_lock("process_dead_letter_queue_batch", timeout=settings.DLQ_CLAIM_LEASE_SECONDS) as acquired:
        if not acquired:
            log.info("dlq_batch_skipped", reason="another run holds the lock")
            return {"skipped": True}
        totals = dead_letter_replay_due(batch_size=batch_size, max_batches=max_batches, deadline=task_deadline(self))
        return {"skipped": False, **totals}


@shared_task(name="cleanup_old_dlq_messages", ignore_result=True)
def cleanup_old_dlq_messages(max_age_days: int | None = None) -> dict[str, Any]:
    """Beat job (daily): delete resolved/discarded letters older than ``DLQ_RETENTION_DAYS``."""
    with job_lock("cleanup_old_dlq_messages", timeout=3600) as acquired:
        if not acquired:
            log.info("dlq_cleanup_skipped", reason="another run holds the lock")
            return {"skipped": True}
        return {"skipped": False, "deleted": dead_letter_cleanup(older_than_days=max_age_days)}


@shared_task(name="generate_reliability_report", ignore_result=True)
def generate_reliability_report() -> dict[str, Any]:
    """Beat job (hourly): store the report of the last whole hour, under the maintenance lock.

    A second run for the same hour (an overlap, a redelivery) stores nothing.
    """
    with job_lock("generate_reliability_report", timeout=3600) as acquired:
        if not acquired:
            log.info("reliability_report_skipped", reason="another run holds the lock")
            return {"skipped": True}
        report = reliability_report_generate()
        return {"skipped": False, "report_id": report.pk if report is not None else None}


@shared_task(bind=True, name="replay_dead_letter_batch", ignore_result=True)
def replay_dead_letter_batch(
    self: Task, batch_size: int = 100, message_type: str | None = None, max_batches: int = 100
) -> dict[str, int]:
    """Drain due letters in batches; no lock, as any number of workers may do this at once."""
    return dead_letter_replay_due(
        batch_size=batch_size, max_batches=max_batches, message_type=message_type, deadline=task_deadline(self)
    )


@shared_task(bind=True, name="replay_dead_letters", ignore_result=True)
def replay_dead_letters(
    self: Task, letter_ids: list[int], actor_id: int | None = None, channel: str = "admin", rate: float | None = None
) -> dict[str, Any]:
    """An operator's bulk replay, run in a worker so a large selection does not hold a request.

    What the deadline leaves unstarted goes on in a new run, with a time limit of its own.
    """
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id is not None else None
    result = dead_letter_replay_many(
        letter_ids=letter_ids, actor=actor, channel=channel, rate=rate, deadline=task_deadline(self)
    )
    if result.unstarted:
        replay_dead_letters.delay(letter_ids=result.unstarted, actor_id=actor_id, channel=channel, rate=rate)
    return result.as_dict()


@shared_task(name="monitor_circuit_breakers", ignore_result=True)
def monitor_circuit_breakers() -> dict[str, Any]:
    """Beat job (every 2 minutes): log every breaker's live state; an overlapping run skips."""
    with job_lock("monitor_circuit_breakers", timeout=120) as acquired:
        if not acquired:
            log.info("breaker_monitor_skipped", reason="another run holds the lock")
            return {"skipped": True}
        return {"skipped": False, "breakers": breaker_monitor_run()}


@shared_task(name="monitor_degradation_level", ignore_result=True)
def monitor_degradation_level() -> dict[str, Any]:
    """Beat job (every 30 s): re-evaluate the degradation level, under the maintenance lock."""
    return degradation_monitor_run()
