"""Circuit breakers shared by every process (DESIGN section 4).

``from reliability.breaker import get_circuit_breaker, CircuitBreakerConfig``. The names
are loaded lazily so that importing the models (which lives in this package) during app
loading does not pull in the runtime.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "CircuitBreaker": "reliability.breaker.breaker",
    "get_circuit_breaker": "reliability.breaker.breaker",
    "CircuitBreakerConfig": "reliability.breaker.config",
    "CircuitOpenError": "reliability.errors",
    "BreakerState": "reliability.breaker.models",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reliability.breaker' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
