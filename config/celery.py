"""The Celery app shared by web, worker and beat processes."""

from __future__ import annotations

import os
from typing import Any

import structlog
from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_process_shutdown, worker_shutdown

from config.request_id import bind_request_id, current_request_id
from health.heartbeat import WorkerHeartbeatStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# celery_workers_alive counts workers by these heartbeats (health.heartbeat).
app.steps["worker"].add(WorkerHeartbeatStep)


@worker_process_shutdown.connect
@worker_shutdown.connect
def _forget_live_gauges(pid: int | None = None, **_: Any) -> None:
    # A pool child (worker_process_shutdown) or the worker itself ends: its live gauges go.
    from config.metrics import metrics_process_dead

    metrics_process_dead(pid or os.getpid())


@before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = current_request_id()
    if headers is not None and request_id and "request_id" not in headers:
        headers["request_id"] = request_id


@task_prerun.connect
def _bind_request_id(task: Any = None, task_id: str | None = None, **_: Any) -> None:
    request_id = getattr(task.request, "request_id", None) if task is not None else None
    bind_request_id(request_id or task_id)
    structlog.contextvars.bind_contextvars(task=task.name if task is not None else None, task_id=task_id)


@task_postrun.connect
def _clear_request_id(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()
