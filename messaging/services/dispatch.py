"""Handing work to Celery without letting a broker outage cost a request or a message.

Every task the messaging services start goes through ``task_enqueue``: a publish that
fails (the broker is down) is logged and reported, never raised, because the row it
was about is already committed and the outbox sweeper finds rows nobody picked up.
Publishing does not retry either: a webhook must be answered fast, and the sweeper
will send the task later anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

log = structlog.get_logger(__name__)

# Task names (stable: periodic task rows and dead letters store them).
PROCESS_TASK = "messaging.process_webhook_event"
SEND_TASK = "messaging.send_outbound_message"
SWEEP_TASK = "messaging.sweep_outbox"
RELEASE_TASK = "messaging.release_held_work"


def task_enqueue(*, task_name: str, args: Sequence[Any], countdown: float | None = None) -> bool:
    """Publish ``task_name(*args)``; False (logged) when the broker did not take it."""
    from celery import current_app

    try:
        current_app.tasks[task_name].apply_async(args=list(args), countdown=countdown, retry=False)
    except Exception as exc:  # noqa: BLE001 - whatever the broker raised, the sweeper recovers
        log.warning("task_enqueue_failed", task_name=task_name, args=list(args), error_class=type(exc).__name__)
        return False
    return True
