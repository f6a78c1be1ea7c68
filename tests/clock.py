"""The one fake clock of the suite: tests move time by hand, and ``sleep`` only moves it."""

from __future__ import annotations


class FakeClock:
    """Monotonic and wall clock in one; ``sleep`` records the wait and moves time on."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(float(seconds))
        self.advance(float(seconds))

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
