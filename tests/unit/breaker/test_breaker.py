"""The runtime breaker on a per-process store: calls, decorator, fallback, async, persistence."""

from __future__ import annotations

import asyncio

import pytest
import requests
from asgiref.sync import sync_to_async
from django.db import connections

from reliability.breaker.breaker import CircuitBreaker, counts_as_failure, get_circuit_breaker
from reliability.breaker.config import CircuitBreakerConfig
from reliability.breaker.metrics import failures_total, requests_total, response_time
from reliability.breaker.models import BreakerState, BreakerTransition
from reliability.breaker.models import CircuitBreaker as BreakerRow
from reliability.breaker.stores import LocalStore
from reliability.errors import CircuitOpenError, PermanentError, RateLimited, TransientError

pytestmark = pytest.mark.django_db

CONFIG = CircuitBreakerConfig(
    failure_threshold=3, recovery_timeout=10.0, success_threshold=2, half_open_max_calls=1, timeout=5.0, scope="local"
)


def local_breaker(clock, name="svc", config=CONFIG):
    return CircuitBreaker(name, config, store=LocalStore(name, config), clock=clock)


def fail():
    raise TransientError("remote is down")


def http_error(status):
    response = requests.Response()
    response.status_code = status
    return requests.HTTPError(f"{status}", response=response)


@pytest.mark.parametrize(
    ("exc", "counts"),
    [
        (TransientError("x"), True),
        (RateLimited(retry_after=3), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (requests.ConnectionError(), True),
        (requests.ReadTimeout(), True),
        (requests.exceptions.ChunkedEncodingError("server dropped the connection"), True),
        (http_error(503), True),
        (http_error(500), True),
        (http_error(429), True),
        (http_error(400), False),
        (http_error(404), False),
        (PermanentError("bad phone number"), False),
        (ValueError("our bug"), False),
        (CircuitOpenError("inner", 1.0), False),
    ],
)
def test_default_classification(exc, counts):
    assert counts_as_failure(exc, CircuitBreakerConfig()) is counts


def test_classification_is_configurable():
    config = CircuitBreakerConfig(failure_exceptions=(KeyError,), ignored_exceptions=())
    assert counts_as_failure(KeyError("k"), config)
    assert not counts_as_failure(TransientError("t"), config)
    custom = CircuitBreakerConfig(is_failure=lambda exc: isinstance(exc, ValueError))
    assert counts_as_failure(ValueError(), custom)


def test_call_opens_after_failures_then_rejects_with_retry_after(clock):
    cb = local_breaker(clock)
    for _ in range(3):
        with pytest.raises(TransientError):
            cb.call(fail)
    assert cb.state == BreakerState.OPEN
    clock.advance(4)
    ran = []
    with pytest.raises(CircuitOpenError) as caught:
        cb.call(ran.append, 1)
    assert ran == []
    assert caught.value.retry_after == pytest.approx(6.0)
    assert caught.value.name == "svc"


def test_permanent_errors_are_reraised_but_not_counted(clock):
    cb = local_breaker(clock)
    for _ in range(10):
        with pytest.raises(PermanentError):
            cb.call(lambda: (_ for _ in ()).throw(PermanentError("bad input")))
    assert cb.state == BreakerState.CLOSED


def test_http_4xx_does_not_open_but_5xx_does(clock):
    cb = local_breaker(clock)

    def respond(status):
        raise http_error(status)

    for _ in range(5):
        with pytest.raises(requests.HTTPError):
            cb.call(respond, 400)
    assert cb.state == BreakerState.CLOSED
    for _ in range(3):
        with pytest.raises(requests.HTTPError):
            cb.call(respond, 502)
    assert cb.state == BreakerState.OPEN


def test_a_call_slower_than_timeout_counts_as_failure(clock):
    cb = local_breaker(clock)

    def slow_success():
        clock.advance(6)
        return "late"

    for _ in range(3):
        assert cb.call(slow_success) == "late"
    assert cb.state == BreakerState.OPEN


def test_a_call_past_timeout_is_a_failure_and_not_also_slow(clock):
    config = CircuitBreakerConfig(
        failure_threshold=100, minimum_requests=100, slow_call_threshold=1.0, timeout=5.0, scope="local"
    )
    cb = local_breaker(clock, config=config)

    def taking(seconds, error=None):
        def call():
            clock.advance(seconds)
            if error is not None:
                raise error
            return "answer"

        return call

    assert cb.call(taking(6)) == "answer"  # returned, but after the timeout
    with pytest.raises(TransientError):
        cb.call(taking(6, TransientError("late and failed")))
    snapshot = cb.snapshot()
    assert (snapshot.calls_in_window, snapshot.failure_rate, snapshot.slow_call_rate) == (2, 1.0, 0.0)
    cb.call(taking(2))  # past the slow threshold, within the timeout: slow, not failed
    snapshot = cb.snapshot()
    assert snapshot.failure_rate == pytest.approx(2 / 3)
    assert snapshot.slow_call_rate == pytest.approx(1 / 3)


def test_half_open_probe_success_closes(clock):
    cb = local_breaker(clock)
    for _ in range(3):
        with pytest.raises(TransientError):
            cb.call(fail)
    clock.advance(10)
    assert cb.call(lambda: "ok") == "ok"
    assert cb.state == BreakerState.HALF_OPEN
    assert cb.call(lambda: "ok") == "ok"
    assert cb.state == BreakerState.CLOSED


def test_fallback_answers_instead_of_raising(clock):
    cb = local_breaker(clock)
    for _ in range(3):
        with pytest.raises(TransientError):
            cb.call(fail)
    assert cb.call(lambda name: f"hello {name}", "ann", fallback=lambda name: f"later, {name}") == "later, ann"


def test_config_fallback(clock):
    config = CircuitBreakerConfig(failure_threshold=1, scope="local", fallback=lambda: "canned")
    cb = local_breaker(clock, config=config)
    with pytest.raises(TransientError):
        cb.call(fail)
    assert cb.call(fail) == "canned"


def test_decorator_form(clock):
    cb = local_breaker(clock)

    @cb
    def add(a, b):
        return a + b

    assert add(2, 3) == 5
    assert add.__name__ == "add"


def test_transitions_are_stored_with_reason(clock):
    cb = local_breaker(clock)
    for _ in range(3):
        with pytest.raises(TransientError):
            cb.call(fail)
    row = BreakerRow.objects.get(name="svc")
    assert row.state == BreakerState.OPEN
    assert row.consecutive_failures == 3
    assert row.open_until.timestamp() == pytest.approx(clock.now + 10)
    transition = BreakerTransition.objects.get(breaker=row)
    assert (transition.from_state, transition.to_state, transition.reason) == ("closed", "open", "consecutive_failures")


def test_requests_are_counted_by_outcome(clock):
    cb = local_breaker(clock, name="counted")

    def value(outcome):
        return requests_total.labels("counted", outcome)._value.get()

    cb.call(lambda: None)
    with pytest.raises(ValueError):
        cb.call(lambda: int("x"))
    for _ in range(3):
        with pytest.raises(TransientError):
            cb.call(fail)
    with pytest.raises(CircuitOpenError):
        cb.call(lambda: None)
    assert [value(outcome) for outcome in ("success", "ignored", "failure", "rejected")] == [1, 1, 3, 1]
    assert failures_total.labels("counted")._value.get() == 3
    assert response_time.labels("counted")._sum.get() >= 0
    assert sum(bucket.get() for bucket in response_time.labels("counted")._buckets) == 5


def test_registry_returns_one_breaker_per_name(settings):
    settings.CIRCUIT_BREAKER_CONFIGS = {"deepseek": {"failure_threshold": 3, "recovery_timeout": 120.0}}
    cb = get_circuit_breaker("deepseek")
    assert get_circuit_breaker("deepseek") is cb
    assert (cb.config.failure_threshold, cb.config.recovery_timeout) == (3, 120.0)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="letters, digits"):
        CircuitBreaker("no spaces please", CONFIG)


@pytest.mark.django_db(transaction=True)
def test_async_call_and_decorator(clock):
    cb = local_breaker(clock, name="async_svc")

    async def fetch(x):
        await asyncio.sleep(0)
        return x * 2

    async def broken():
        raise TransientError("down")

    @cb
    async def decorated():
        return "decorated"

    async def scenario():
        assert await cb.call(fetch, 21) == 42
        assert await decorated() == "decorated"
        for _ in range(3):
            with pytest.raises(TransientError):
                await cb.call(broken)
        with pytest.raises(CircuitOpenError):
            await cb.call(fetch, 1)

        async def later(x):
            return "fallback"

        answer = await cb.call(fetch, 1, fallback=later)
        await sync_to_async(connections.close_all)()  # the ORM thread's connection
        return answer

    assert asyncio.run(scenario()) == "fallback"
    assert BreakerTransition.objects.filter(breaker__name="async_svc", to_state="open").count() == 1


def test_store_selection(settings):
    from reliability.breaker.breaker import select_store
    from reliability.breaker.redis_store import RedisStore
    from reliability.breaker.stores import DatabaseStore

    shared, local = CircuitBreakerConfig(), CircuitBreakerConfig(scope="local")
    assert isinstance(select_store("green_api", shared), RedisStore)
    assert isinstance(select_store("database", shared), RedisStore)
    assert isinstance(select_store("green_api", local), LocalStore)
    settings.REDIS_URL = None
    assert isinstance(select_store("green_api", shared), DatabaseStore)
    # The database's own breaker never keeps its state in the database it guards.
    assert isinstance(select_store("database", shared), LocalStore)
