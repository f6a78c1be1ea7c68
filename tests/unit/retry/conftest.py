"""The fake clock as a fixture, and a scripted flaky function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from reliability.retry import RetryBudget, RetryConfig, RetryHandler
from tests.clock import FakeClock


class Flaky:
    """Raises (or returns) each scripted outcome in turn, then returns ``result``."""

    def __init__(self, *outcomes: Any, result: Any = "ok") -> None:
        self.outcomes = list(outcomes)
        self.result = result
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.outcomes:
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        return self.result


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def make_handler(clock: FakeClock) -> Callable[..., RetryHandler]:
    """A handler on the fake clock; no jitter and a 60 s cap unless asked (the testing
    profile's defaults would cap every wait at 0.1 s)."""

    def make(
        *, budget: RetryBudget | None = None, uniform: Callable[[float, float], float] | None = None, **config: Any
    ) -> RetryHandler:
        config.setdefault("jitter", "none")
        config.setdefault("max_delay", 60.0)
        return RetryHandler(
            RetryConfig(**config),
            budget=budget,
            sleep=clock.sleep,
            async_sleep=clock.async_sleep,
            clock=clock,
            wall_clock=clock,
            uniform=uniform or (lambda low, high: high),
        )

    return make


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0
