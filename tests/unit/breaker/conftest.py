from __future__ import annotations

import pytest

from reliability.breaker.breaker import forget_circuit_breakers


class FakeClock:
    """Wall-clock stand-in: tests move time by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(autouse=True)
def _fresh_registry():
    forget_circuit_breakers()
    yield
    forget_circuit_breakers()
