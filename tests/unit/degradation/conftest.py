from __future__ import annotations

import pytest

from reliability.degradation.state import LevelState
from reliability.degradation.store import view


@pytest.fixture
def at_level():
    """Make this process's copy of the shared state say ``level`` (no store is read)."""
    original = view._read
    current = {"state": LevelState()}
    view._read = lambda: (current["state"], True)

    def set_level(level: int, **fields) -> None:
        current["state"] = LevelState(level=level, **fields)
        view.forget()

    yield set_level
    view._read = original
    view.forget()
