"""Graceful degradation (DESIGN section 7): levels, rules, operator overrides, feature gates, fallbacks.

``from reliability.degradation import allows, get_degradation_handler, fallback_service``.
The names are loaded lazily so that importing the models (which live in this package)
during app loading does not pull in the runtime.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "allows": "reliability.degradation.gates",
    "allows_now": "reliability.degradation.gates",
    "read_only": "reliability.degradation.gates",
    "UnknownFeature": "reliability.degradation.config",
    "DegradationLevel": "reliability.degradation.levels",
    "get_degradation_handler": "reliability.degradation.handler",
    "fallback_service": "reliability.degradation.fallbacks",
    "degradation_level_changed": "reliability.degradation.signals",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reliability.degradation' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
