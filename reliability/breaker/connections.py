"""The breakers' Redis connections: a bounded set per process, lent out one command at a time.

redis-py's pools do this job too, but their checkout and return cost about half a
loopback round trip per command (locks, a poll of the socket, connection metrics and
maintenance bookkeeping). On the breaker's hot path, one ``EVALSHA`` per call, that was
a third of the call. ``BoundedConnections`` keeps only what that path needs.
"""

from __future__ import annotations

import functools
import os
import threading
import weakref
from collections.abc import Callable
from time import monotonic
from typing import Any

import redis
from redis.connection import parse_url

# Redis closes idle clients only after whole seconds (its `timeout` setting), so a
# connection used within the last second cannot have been closed that way; one idle
# for longer is polled before use (a few µs) and replaced if the server hung up.
POLL_AFTER_IDLE = 1.0

_live: weakref.WeakSet[BoundedConnections] = weakref.WeakSet()


class BoundedConnections:
    """At most ``max_connections`` connections, shared by every thread of the process.

    - Connections are made when needed, up to the bound; a command that finds them all
      busy waits up to ``wait`` seconds for one, then raises ``redis.ConnectionError``
      (to a breaker, a Redis outage).
    - Idle connections are reused last-in first-out, so a quiet process keeps using
      the same few warm ones.
    - A connection whose reply was not read in full (timeout, dropped connection,
      interruption) is disconnected before anyone reuses it, so no command ever reads
      another's late reply; it reconnects on its next command.
    - A child forked from this process starts with no connections and a bound of its
      own: it never writes to, reads from or shuts down the parent's sockets.
    """

    def __init__(self, new_connection: Callable[[], Any], *, max_connections: int, wait: float) -> None:
        self._new_connection = new_connection
        self.max_connections = max_connections
        self.wait = wait
        self._start_empty()
        _live.add(self)

    @classmethod
    def from_url(cls, url: str, *, max_connections: int, wait: float, **connection_kwargs: Any) -> BoundedConnections:
        """Connections to ``url`` (redis://, rediss://, unix://); its query string wins over the keywords."""
        options = {**connection_kwargs, **parse_url(url)}
        connection_class = options.pop("connection_class", redis.Connection)
        return cls(functools.partial(connection_class, **options), max_connections=max_connections, wait=wait)

    def _start_empty(self) -> None:
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)
        self._idle: list[tuple[Any, float]] = []  # (connection, when it was given back); last is newest
        self._made = 0

    def execute(self, *args: Any) -> Any:
        """Send one command on a free connection and return its reply (an error reply raises)."""
        connection = self._take()
        try:
            connection.send_command(*args)
            return connection.read_response()
        except redis.ResponseError:
            raise  # an error reply was read in full: the connection is still in step
        except BaseException:
            connection.disconnect()
            raise
        finally:
            self._give_back(connection)

    def _take(self) -> Any:
        with self._lock:
            if not self._idle:
                if self._made < self.max_connections:
                    connection = self._new_connection()
                    self._made += 1
                    return connection
                if not self._returned.wait_for(lambda: self._idle, self.wait):
                    raise redis.ConnectionError(
                        f"all {self.max_connections} breaker connections to Redis stayed busy for {self.wait:g} s"
                    )
            connection, idle_since = self._idle.pop()
        if monotonic() - idle_since > POLL_AFTER_IDLE and connection.is_connected:
            try:
                stale = connection.can_read()  # bytes nobody asked for
            except redis.ConnectionError:
                stale = True  # the server hung up
            if stale:
                connection.disconnect()  # the command reconnects
        return connection

    def _give_back(self, connection: Any) -> None:
        with self._lock:
            self._idle.append((connection, monotonic()))
            self._returned.notify()


def _start_empty_after_fork() -> None:
    # Runs in the child only, while it has a single thread, so no lock is held and no
    # connection is in use. The parent's connections are dropped: collecting one closes
    # this process's copy of its socket without a shutdown (redis-py shuts down only the
    # sockets a process opened itself), so the parent's socket stays intact.
    for connections in list(_live):
        connections._start_empty()


os.register_at_fork(after_in_child=_start_empty_after_fork)
