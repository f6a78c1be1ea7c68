"""A separate process that calls one shared breaker, for the multi-process tests.

Run as ``python -m tests.integration.breaker.worker MODE`` with DJANGO_SETTINGS_MODULE,
DATABASE_URL and REDIS_URL (empty for the database store) set, ``BREAKER`` (the name),
``BREAKER_CONFIG`` (JSON keyword arguments of CircuitBreakerConfig) and ``COORD_URL``
(a Redis the test and the workers use to start together and to report what they saw).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

# INCR KEYS[1] and keep its highest value in KEYS[2]: how many trials ran at once.
TRACK_MAX = (
    "local n = redis.call('INCR', KEYS[1]) "
    "if n > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], n) end return n"
)


def main(mode: str) -> int:
    import django

    django.setup()
    import redis

    from reliability.breaker import CircuitBreakerConfig, get_circuit_breaker
    from reliability.errors import CircuitOpenError, TransientError

    coord = redis.Redis.from_url(os.environ["COORD_URL"], decode_responses=True)
    name = os.environ["BREAKER"]
    cb = get_circuit_breaker(name, CircuitBreakerConfig(**json.loads(os.environ["BREAKER_CONFIG"])))
    worker = f"{os.getpid()}"
    duration = float(os.environ.get("RUN_SECONDS", "5"))
    track_max = coord.register_script(TRACK_MAX)

    def failing() -> None:
        coord.incr("executed")
        time.sleep(0.002)
        raise TransientError("remote is down")

    def trial(seconds: float = 0.2) -> None:
        track_max(keys=["inflight", "max_inflight"])
        coord.incr("executed")
        time.sleep(seconds)
        coord.decr("inflight")

    coord.incr("ready")
    while not coord.exists("go"):
        time.sleep(0.005)
    deadline = time.monotonic() + duration

    if mode == "hammer":
        # Call the failing function until the breaker rejects us.
        while time.monotonic() < deadline:
            try:
                cb.call(failing)
            except TransientError:
                continue
            except CircuitOpenError:
                coord.incr("rejected_workers")
                return 0
        return 1

    if mode in ("trial", "slow_trial"):
        # Several threads per process ask for half-open permits at once; a slow trial
        # takes TRIAL_SECONDS, longer than the breaker's timeout.
        seconds = float(os.environ.get("TRIAL_SECONDS", "0.2"))

        def loop() -> None:
            while time.monotonic() < deadline:
                try:
                    cb.call(trial, seconds)
                except CircuitOpenError:
                    time.sleep(0.01)

        threads = [threading.Thread(target=loop) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return 0

    if mode == "state":
        # A process started later: what state does it see?
        coord.set("state", cb.state.value)
        return 0

    if mode == "calls":
        # Succeeding calls every 10 ms for the whole run; report how many went through.
        while time.monotonic() < deadline:
            cb.call(lambda: None)
            coord.incr("succeeded")
            time.sleep(0.01)
        return 0

    if mode == "observe":
        # Report every change between admitted and rejected, with the wall-clock time.
        last = None
        while time.monotonic() < deadline:
            try:
                cb.call(lambda: None)
                seen = "admitted"
            except CircuitOpenError:
                seen = "rejected"
            if seen != last:
                coord.rpush(f"events:{worker}", f"{time.time()} {seen}")
                last = seen
            time.sleep(0.02)
        return 0

    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
