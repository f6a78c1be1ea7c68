"""The seed's ``get_degradation_handler()``: the level, the gates and the monitor loop in one object.

The beat task ``monitor_degradation_level`` runs the monitor in Celery deployments;
``start_monitoring`` is the same monitor for a process that is not Celery (an ASGI
server, a standalone script)::

    handler = get_degradation_handler()
    await handler.start_monitoring(interval=30.0)   # returns at once; runs until stopped
    ...
    await handler.stop_monitoring()

Several monitors at once are harmless: each run takes the maintenance lock and skips
when another holds it, and the state row is changed under a row lock.
"""

from __future__ import annotations

import asyncio
import math

import structlog
from asgiref.sync import sync_to_async
from django.db import close_old_connections

from reliability.degradation.gates import allows
from reliability.degradation.levels import DegradationLevel
from reliability.degradation.services import degradation_evaluate, degradation_monitor_run
from reliability.degradation.state import LevelState
from reliability.degradation.store import view

logger = structlog.get_logger(__name__)

MIN_INTERVAL = 0.1


class DegradationHandler:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    @property
    def current_level(self) -> DegradationLevel:
        """The level this process obeys now (its copy of the shared state)."""
        return DegradationLevel(view.level())

    def allows(self, feature: str) -> bool:
        return allows(feature)

    def evaluate(self) -> LevelState:
        """Re-evaluate now (on demand), outside the monitor's schedule."""
        return degradation_evaluate()

    @property
    def monitoring(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start_monitoring(self, interval: float = 30.0) -> asyncio.Task[None]:
        """Run the monitor every ``interval`` seconds in the running event loop, in the
        background; a second call while it runs returns the same task."""
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not math.isfinite(interval):
            raise ValueError(f"interval must be a number of seconds, not {interval!r}")
        if interval < MIN_INTERVAL:
            raise ValueError(f"interval must be at least {MIN_INTERVAL} s")
        if not self.monitoring:
            self._task = asyncio.get_running_loop().create_task(self._loop(float(interval)))
        return self._task

    async def stop_monitoring(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _loop(self, interval: float) -> None:
        # Not Django's thread for sync code: an evaluation may wait seconds on a dead
        # dependency, and must not hold up sync views of an ASGI server meanwhile.
        run = sync_to_async(_run_once, thread_sensitive=False)
        while True:
            try:
                await run()
            except Exception as exc:  # noqa: BLE001 - the loop outlives any one failed run
                logger.error("degradation_monitor_failed", error_class=type(exc).__name__, error=str(exc)[:200])
            await asyncio.sleep(interval)


def _run_once() -> None:
    # A long-lived loop has no request cycle to renew connections a restart broke.
    close_old_connections()
    try:
        degradation_monitor_run()
    finally:
        close_old_connections()


_handler = DegradationHandler()


def get_degradation_handler() -> DegradationHandler:
    """The process's handler (seed API)."""
    return _handler
