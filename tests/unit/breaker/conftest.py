from __future__ import annotations

import pytest

from reliability.breaker.breaker import forget_circuit_breakers
from tests.clock import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(autouse=True)
def _fresh_registry():
    forget_circuit_breakers()
    yield
    forget_circuit_breakers()
