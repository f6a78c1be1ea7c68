"""The embedded Celery broker: kombu's filesystem transport, with waits short enough to stop on time.

Celery consumes a transport that has no event loop (this one) through its blocking
``synloop``, which waits for messages in ``drain_events(timeout=2.0)`` and checks for a
shutdown request only between two waits, running one more wait after it saw one. An
idle worker therefore took up to four seconds to begin its warm shutdown, and with
the pool's own stop more than honcho's five seconds of grace after Ctrl-C on
``make run``. Capping each wait at ``MAX_WAIT_SECONDS`` makes the worker notice within
half a second; the transport polls its folder every 50 ms either way, so the shorter
wait costs nothing. The Redis broker of production has an event loop and is not affected.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import filesystem

MAX_WAIT_SECONDS = 0.25


class Transport(filesystem.Transport):
    def drain_events(self, connection: Any, timeout: float | None = None) -> Any:
        if timeout is not None:
            timeout = min(timeout, MAX_WAIT_SECONDS)
        return super().drain_events(connection, timeout=timeout)
