"""Feature gates: ``allows("ai_sentiment")`` says whether a feature runs at the current level.

``DEGRADATION_FEATURES`` says up to which level each feature runs. The level comes from
this process's copy of the shared state (``store.view``): no network round trip unless
the copy is older than a second. An unknown feature name raises ``UnknownFeature``: a
misspelt gate must fail in the test that calls it, not quietly stay open.
"""

from __future__ import annotations

from reliability.degradation.config import UnknownFeature, feature_limits
from reliability.degradation.store import view


def allows(feature: str) -> bool:
    """True while the current level is at or below the highest level ``feature`` runs at."""
    try:
        limit = feature_limits()[feature]
    except (KeyError, TypeError):
        raise UnknownFeature(feature) from None
    return view.level() <= limit


def allows_now(feature: str) -> bool:
    """``allows(feature)``, with a closed gate confirmed against the shared state itself.

    For code that holds work back while a gate is closed: this process's copy may be a
    second old, and right after the level dropped it would hold work that the release
    (run because the level dropped) has already gone past. An open gate costs what
    ``allows`` costs; a closed one, one read of the shared store.
    """
    if allows(feature):
        return True
    view.refresh()
    return allows(feature)


def read_only() -> bool:
    """Whether writes are refused now: the ``database_read_only`` condition held at the last evaluation."""
    return view.read_only()


def features_allowed(level: int) -> dict[str, bool]:
    """Every gate's answer at ``level``, for the doors that show them."""
    return {feature: level <= limit for feature, limit in sorted(feature_limits().items())}
