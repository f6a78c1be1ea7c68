"""The per-process copy behind allows(): no read on a cache hit, stale but known when the stores are down."""

from __future__ import annotations

import pytest

from reliability.degradation.state import AUTO, OPERATOR, LevelState
from reliability.degradation.store import LevelView
from tests.clock import FakeClock


class Store:
    def __init__(self, state: LevelState) -> None:
        self.state = state
        self.reads = 0
        self.down = False

    def __call__(self):
        self.reads += 1
        return (None, False) if self.down else (self.state, True)


@pytest.fixture
def clock():
    return FakeClock(1000.0)


def view_of(store, clock):
    return LevelView(read=store, monotonic=clock, wall=clock)


def test_reads_within_a_second_answer_from_the_copy(clock):
    store = Store(LevelState(level=2, version=1))
    view = view_of(store, clock)
    assert [view.level() for _ in range(1000)] == [2] * 1000
    assert store.reads == 1
    clock.advance(0.99)
    view.level()
    assert store.reads == 1


def test_a_change_is_seen_once_the_copy_is_a_second_old(clock):
    store = Store(LevelState(level=0))
    view = view_of(store, clock)
    assert view.level() == 0
    store.state = LevelState(level=3, version=2)
    clock.advance(1.0)
    assert view.level() == 3
    assert store.reads == 2


def test_with_both_stores_down_the_last_known_level_is_used_and_marked_stale(clock):
    store = Store(LevelState(level=3, version=5))
    view = view_of(store, clock)
    assert view.level() == 3 and not view.stale
    store.down = True
    clock.advance(5)
    assert view.level() == 3
    assert view.stale
    store.down = False
    clock.advance(1)
    view.level()
    assert not view.stale


def test_a_process_that_never_read_the_state_answers_normal_and_stale(clock):
    store = Store(LevelState())
    store.down = True
    view = view_of(store, clock)
    assert view.level() == 0
    assert view.stale


def test_an_override_gives_way_to_the_rules_at_its_expiry_without_a_read(clock):
    override = LevelState(level=2, source=OPERATOR, expires_at=clock.now + 30, auto_level=1, version=3)
    store = Store(override)
    view = LevelView(read=store, monotonic=clock, wall=clock, refresh_interval=3600)
    assert view.level() == 2
    clock.advance(29.9)
    assert view.level() == 2
    clock.advance(0.1)
    assert view.level() == 1
    assert view.current().source == AUTO
    assert store.reads == 1


def test_a_state_this_process_wrote_is_seen_at_once(clock):
    store = Store(LevelState(level=0, version=1))
    view = view_of(store, clock)
    view.level()
    view.remember(LevelState(level=4, version=2))
    assert view.level() == 4
    view.remember(LevelState(level=1, version=1))  # older than what it has: ignored
    assert view.level() == 4
