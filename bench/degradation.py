"""The cost of ``allows()`` on the hot path, next to a bare function call.

``allows(feature)`` answers from this process's copy of the shared state, which is at
most a second old; these calls all hit that copy (it is read from the shared store once
before the rounds, and each round starts with it marked fresh, as a process has it for a
second after each refresh). Baseline: a bare call of
a function that returns True. Both are called through a lambda, so the difference is the
gate's own cost. Interleaved rounds (A, B, A, B, ...), median per call; the store reads
during the rounds are counted (they must be none).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from django.core.management import call_command

from reliability.degradation import allows
from reliability.degradation.store import REFRESH_INTERVAL, view

ROUNDS = 25
CALLS = 20_000
GOAL_US = 5.0


def bare() -> bool:
    return True


def _per_call(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    for _ in range(CALLS):
        fn()
    return (time.perf_counter() - started) / CALLS


def main() -> str:
    call_command("migrate", verbosity=0, interactive=False)
    view.forget()
    allows("ai_sentiment")  # one refresh from the shared store, before any round
    assert not view.stale, "the shared state could not be read"
    reads = 0
    read = view._read

    def counted() -> tuple:
        nonlocal reads
        reads += 1
        return read()

    view._read = counted
    variants: dict[str, Callable[[], object]] = {
        "bare function call": lambda: bare(),
        'allows("ai_sentiment")': lambda: allows("ai_sentiment"),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, fn in variants.items():
            view._fresh_until = time.monotonic() + REFRESH_INTERVAL  # keep the copy fresh: cache hits only
            times[name].append(_per_call(fn))
    view._read = read
    medians = {name: statistics.median(values) * 1e6 for name, values in times.items()}
    overhead = medians['allows("ai_sentiment")'] - medians["bare function call"]
    rows = "\n".join(f"| {name} | {value:.2f} |" for name, value in medians.items())
    measured = medians['allows("ai_sentiment")']
    verdict = "met" if measured < GOAL_US else "**missed**"
    return (
        "## Degradation gates\n\n"
        f"`allows()` on a cache hit (the per-process copy of the shared state, refreshed at most once a "
        f"second): {ROUNDS} interleaved rounds of {CALLS:,} calls, median per call; both variants are a "
        "lambda calling the function.\n\n"
        "| call | median per call (µs) |\n|---|---:|\n"
        f"{rows}\n\n"
        f"Overhead of the gate over a bare call: {overhead:.2f} µs. Goal: under {GOAL_US:g} µs per call: "
        f"{measured:.2f} µs, {verdict}. Reads of the shared store during the rounds: {reads} (no network "
        "round trip on a cache hit; a process asks Redis, or the database row, at most once per second).\n"
    )


if __name__ == "__main__":
    import os
    import sys

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    print(main())
    sys.exit(0)
