"""A Celery worker's heartbeat: a bootstep that writes the worker's ``WorkerHeartbeat`` row.

It runs in a thread of the worker's main process, not on the worker's event loop, so a
database that hangs delays only the heartbeat, never the consumption of tasks. The
connection is closed after each beat: nothing of it is left for a pool child forked in
between. A clean shutdown removes the row; a killed worker's row ages out of
``celery_workers_alive``.

Imported by ``config.celery`` before Django is set up: Django is imported inside the
methods only.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import structlog
from celery import bootsteps

logger = structlog.get_logger(__name__)


class WorkerHeartbeatStep(bootsteps.StartStopStep):
    # After the pool: prefork children are forked before the thread exists.
    requires = ("celery.worker.components:Pool",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._hostname = ""
        self._pid = 0

    def start(self, parent: Any) -> None:
        from django.conf import settings
        from django.utils import timezone

        self._hostname, self._pid = parent.hostname, os.getpid()
        started_at = timezone.now()
        interval = float(settings.WORKER_HEARTBEAT_SECONDS)
        self._thread = threading.Thread(
            target=self._run, args=(started_at, interval), name="worker-heartbeat", daemon=True
        )
        self._thread.start()

    def stop(self, parent: Any) -> None:
        if self._thread is None or self._stopping.is_set():
            return
        self._stopping.set()
        self._thread.join(timeout=10)
        self._database_call("worker_heartbeat_forget_failed", self._forget)

    terminate = stop

    def _run(self, started_at: Any, interval: float) -> None:
        while True:
            self._database_call("worker_heartbeat_failed", self._beat, started_at)
            if self._stopping.wait(interval):
                return

    def _beat(self, started_at: Any) -> None:
        from health.services import worker_heartbeat_record

        worker_heartbeat_record(hostname=self._hostname, pid=self._pid, started_at=started_at)

    def _forget(self) -> None:
        from health.services import worker_heartbeat_forget

        worker_heartbeat_forget(hostname=self._hostname, pid=self._pid)

    def _database_call(self, failure_event: str, fn: Any, *args: Any) -> None:
        from django.db import close_old_connections, connection

        try:
            close_old_connections()
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - a missed beat is logged; the next one tries again
            logger.warning(failure_event, hostname=self._hostname, error_class=type(exc).__name__)
        finally:
            connection.close()
