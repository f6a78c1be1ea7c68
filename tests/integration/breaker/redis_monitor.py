"""Count the commands clients send to Redis, exactly, with MONITOR.

``INFO commandstats`` and ``total_commands_processed`` also count the commands a Lua
script runs inside Redis; MONITOR marks those as coming from ``lua``, so they can be
told apart from the round trips a client made.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import redis


class RedisCommandCounter:
    """``with RedisCommandCounter(url) as counted: ...`` then ``counted.total`` / ``counted.by_command``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.by_command: Counter[str] = Counter()
        self._marker = f"end-of-count-{uuid.uuid4().hex}"
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = redis.Redis.from_url(url, decode_responses=True)

    @property
    def total(self) -> int:
        return sum(self.by_command.values())

    def _watch(self) -> None:
        with redis.Redis.from_url(self.url, decode_responses=True).monitor() as monitor:
            self._ready.set()
            while True:
                entry = monitor.next_command()
                command = entry["command"]
                if self._marker in command:
                    return
                if entry.get("client_type") == "lua":
                    continue
                self.by_command[command.split(" ", 1)[0].upper()] += 1

    def __enter__(self) -> RedisCommandCounter:
        self._client.ping()  # connect now, so the marker's connection handshake is not counted
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.echo(self._marker)
        assert self._thread is not None
        self._thread.join(10)
        self._client.close()
