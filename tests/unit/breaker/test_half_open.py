"""Half-open trials that outlive their permit, on every store and the fake clock.

A trial permit lapses after ``timeout`` so that a caller that died cannot hold the slot,
and the next caller gets it. The lapsed trial still belongs to this half-open period:
when it fails, or returns only after ``timeout`` (itself a failure), the breaker reopens
(DESIGN 4). The nested calls below are the second caller arriving while the first trial
still runs.
"""

from __future__ import annotations

import pytest

from reliability.breaker.breaker import CircuitBreaker
from reliability.breaker.config import CircuitBreakerConfig
from reliability.breaker.models import BreakerState, BreakerTransition
from reliability.breaker.redis_store import RedisStore
from reliability.breaker.stores import DatabaseStore, LocalStore
from reliability.errors import CircuitOpenError, TransientError

pytestmark = pytest.mark.django_db

CONFIG = CircuitBreakerConfig(
    failure_threshold=1, recovery_timeout=10.0, half_open_max_calls=1, timeout=5.0, success_threshold=2
)
STORES = {"local": LocalStore, "database": DatabaseStore, "redis": RedisStore}


@pytest.fixture(params=sorted(STORES))
def breaker(request, clock, redis_client):
    """A breaker on each store, opened by one failure, whose recovery time is up."""
    name = f"trial_{request.param}"
    cb = CircuitBreaker(name, CONFIG, store=STORES[request.param](name, CONFIG), clock=clock)
    with pytest.raises(TransientError):
        cb.call(fail)
    assert cb.state == BreakerState.OPEN
    clock.advance(10)
    return cb


def fail():
    raise TransientError("still down")


def test_a_trial_that_fails_after_its_permit_lapsed_reopens_the_breaker(breaker, clock):
    def hung_trial():
        clock.advance(6)
        assert breaker.call(lambda: "second") == "second"  # admitted: the first permit lapsed at +5
        raise TransientError("the hung trial failed at last")

    with pytest.raises(TransientError):
        breaker.call(hung_trial)

    assert breaker.state == BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as caught:
        breaker.call(lambda: "rejected")
    assert caught.value.retry_after == pytest.approx(20.0)  # reopened with the doubled open time
    reopened = BreakerTransition.objects.filter(breaker__name=breaker.name, from_state="half_open").get()
    assert (reopened.to_state, reopened.reason) == ("open", "half_open_failure")


def test_a_trial_that_returns_only_after_timeout_reopens_the_breaker(breaker, clock):
    def late_trial():
        clock.advance(6)
        assert breaker.call(lambda: "second") == "second"
        return "late"

    assert breaker.call(late_trial) == "late"

    assert breaker.state == BreakerState.OPEN


def test_a_late_trial_of_an_earlier_half_open_period_does_not_decide_the_next_one(breaker, clock):
    def very_late_trial():
        clock.advance(6)
        with pytest.raises(TransientError):
            breaker.call(fail)  # the second trial fails: open for 20 s
        clock.advance(20)
        assert breaker.call(lambda: "third") == "third"  # a new half-open period, one success of two
        raise TransientError("the first period's trial failed at last")

    with pytest.raises(TransientError):
        breaker.call(very_late_trial)

    assert breaker.state == BreakerState.HALF_OPEN
    assert breaker.call(lambda: "fourth") == "fourth"
    assert breaker.state == BreakerState.CLOSED
