"""A separate process for the multi-process degradation tests.

``python -m tests.integration.degradation.worker MODE`` with DJANGO_SETTINGS_MODULE,
DATABASE_URL, REDIS_URL (the store under test), ``COORD_URL`` (a Redis that stays up, to
start together and report what was seen) and ``RUN_SECONDS``.

- ``observe``: every 20 ms read the level the way the hot path does (``allows``), call a
  shared breaker and use ``redis_fallback``; report each change of (level, breaker on
  per-process state, cache from memory) with the wall-clock time, and count the calls.
- ``monitor``: run ``get_degradation_handler().start_monitoring(interval=MONITOR_INTERVAL)``
  in an asyncio loop for the whole run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time


def main(mode: str) -> int:
    import django

    django.setup()
    import redis

    coord = redis.Redis.from_url(os.environ["COORD_URL"], decode_responses=True)
    duration = float(os.environ.get("RUN_SECONDS", "10"))
    pid = os.getpid()

    if mode == "monitor":
        from reliability.degradation import get_degradation_handler

        async def run() -> None:
            handler = get_degradation_handler()
            await handler.start_monitoring(interval=float(os.environ["MONITOR_INTERVAL"]))
            coord.incr("ready")
            await asyncio.sleep(duration)
            await handler.stop_monitoring()

        asyncio.run(run())
        return 0

    if mode == "observe":
        from reliability.breaker import get_circuit_breaker
        from reliability.degradation import allows, fallback_service, get_degradation_handler
        from reliability.errors import CircuitOpenError

        handler = get_degradation_handler()
        breaker = get_circuit_breaker("degradation_probe")
        coord.incr("ready")
        while not coord.exists("go"):
            time.sleep(0.005)
        deadline = time.monotonic() + duration
        last = None
        while time.monotonic() < deadline:
            level = handler.current_level.slug
            allows("ai_sentiment")
            try:
                breaker.call(lambda: None)
                coord.incr("admitted")
            except CircuitOpenError:
                coord.incr("rejected")
            fallback_service.redis_fallback("set", f"probe:{pid}", level, timeout=60)
            cached = fallback_service.redis_fallback("get", f"probe:{pid}")
            seen = (
                level,
                "local" if breaker.store.local_since is not None else "shared",
                "memory" if fallback_service.redis_fallback_active else "redis",
                "ok" if cached == level else "miss",
            )
            if seen != last:
                coord.rpush(f"seen:{pid}", f"{time.time()} {' '.join(seen)}")
                last = seen
            time.sleep(0.02)
        return 0

    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
