"""The Redis store on a real Redis: the Lua scripts against the reference state machine,
rebuilding lost keys from PostgreSQL, one round trip per call, bounded connections."""

from __future__ import annotations

import random
import threading

import pytest
from django.conf import settings
from django.db import connection

from reliability.breaker.breaker import CircuitBreaker
from reliability.breaker.config import CircuitBreakerConfig
from reliability.breaker.connections import BoundedConnections
from reliability.breaker.models import BreakerState, BreakerTransition, TransitionReason
from reliability.breaker.models import CircuitBreaker as BreakerRow
from reliability.breaker.redis_store import REDIS_CLIENT_NAME, REDIS_MAX_CONNECTIONS, RedisStore
from reliability.breaker.state import FAILURE, IGNORED, SUCCESS
from reliability.breaker.stores import LocalStore
from reliability.errors import CircuitOpenError, TransientError
from tests.integration.breaker.redis_monitor import RedisCommandCounter

pytestmark = pytest.mark.django_db(transaction=True)


def fail():
    raise TransientError("down")


@pytest.mark.parametrize("seed", range(4))
def test_lua_scripts_follow_the_reference_state_machine(breaker_redis, seed):
    """Random calls, outcomes and clock jumps give the same decisions and transitions."""
    rng = random.Random(seed)
    config = CircuitBreakerConfig(
        failure_threshold=4,
        failure_rate_threshold=0.4,
        minimum_requests=5,
        window_size=8,
        recovery_timeout=2.0,
        success_threshold=2,
        half_open_max_calls=2,
        timeout=1.5,
        slow_call_threshold=0.5,
        slow_call_rate_threshold=0.6,
        max_recovery_timeout=9.0,
    )
    reference = LocalStore("parity", config)
    shared = RedisStore("parity", config, connections=breaker_redis)
    now = 1000.0
    held = []  # admitted calls not yet finished: (reference decision, shared decision)
    for _ in range(600):
        now += rng.choice([0.0, 0.0, 0.1, 0.5, 1.0, 3.0])
        if held and rng.random() < 0.5:
            ref_decision, shared_decision = held.pop(rng.randrange(len(held)))
            outcome = rng.choice([SUCCESS, SUCCESS, FAILURE, IGNORED])
            slow = rng.random() < 0.3
            expected = reference.record(ref_decision, outcome, slow, now)
            actual = shared.record(shared_decision, outcome, slow, now)
            assert [(t.from_state, t.to_state, t.reason) for t in actual] == [
                (t.from_state, t.to_state, t.reason) for t in expected
            ]
            for got, want in zip(actual, expected, strict=True):
                assert got.failure_rate == pytest.approx(want.failure_rate)
                assert got.consecutive_failures == want.consecutive_failures
        else:
            ref_decision = reference.acquire(now)
            shared_decision = shared.acquire(now)
            assert (shared_decision.allowed, shared_decision.state) == (ref_decision.allowed, ref_decision.state)
            assert [t.reason for t in shared_decision.transitions] == [t.reason for t in ref_decision.transitions]
            if ref_decision.retry_after is not None:
                assert shared_decision.retry_after == pytest.approx(ref_decision.retry_after, abs=1e-3)
            if ref_decision.allowed:
                held.append((ref_decision, shared_decision))
        want, got = reference.snapshot(now), shared.snapshot(now)
        assert (got.state, got.consecutive_failures, got.calls_in_window) == (
            want.state,
            want.consecutive_failures,
            want.calls_in_window,
        )
        assert got.failure_rate == pytest.approx(want.failure_rate)
        assert got.slow_call_rate == pytest.approx(want.slow_call_rate)
        if want.open_until:
            assert got.open_until == pytest.approx(want.open_until, abs=1e-3)


def test_lost_keys_are_rebuilt_from_the_database_row(breaker_redis, redis_client, clock):
    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30.0)
    cb = CircuitBreaker("rebuilt_svc", config, clock=clock)
    for _ in range(2):
        with pytest.raises(TransientError):
            cb.call(fail)
    assert BreakerRow.objects.get(name="rebuilt_svc").state == BreakerState.OPEN

    redis_client.flushdb()
    redis_client.script_flush()
    fresh = CircuitBreaker("rebuilt_svc", config, clock=clock)  # a process started after the flush
    clock.advance(10)
    with pytest.raises(CircuitOpenError) as caught:
        fresh.call(lambda: "never runs")
    assert caught.value.retry_after == pytest.approx(20.0, abs=0.01)
    rebuilt = BreakerTransition.objects.get(breaker__name="rebuilt_svc", reason=TransitionReason.REBUILT)
    assert (rebuilt.from_state, rebuilt.to_state) == ("open", "open")

    # Nothing stays stuck open: when the time is up, the next call probes. (The row keeps
    # microseconds, so the rebuilt reopen time may be a fraction of one later.)
    clock.advance(20.001)
    assert cb.call(lambda: "probe") == "probe"
    assert cb.state == BreakerState.HALF_OPEN


def test_half_open_row_is_rebuilt_as_an_open_breaker_that_probes_at_once(breaker_redis, redis_client, clock):
    BreakerRow.objects.create(name="probing_svc", state=BreakerState.HALF_OPEN)
    cb = CircuitBreaker("probing_svc", CircuitBreakerConfig(success_threshold=1), clock=clock)
    assert cb.call(lambda: "probe") == "probe"
    assert cb.state == BreakerState.CLOSED


def test_closed_call_is_one_redis_command_and_open_rejection_none(breaker_redis, redis_client, clock):
    config = CircuitBreakerConfig(failure_threshold=3, recovery_timeout=60.0)
    cb = CircuitBreaker("counted_svc", config, clock=clock)
    cb.call(lambda: None)  # seeds the keys, loads the script

    with RedisCommandCounter(settings.REDIS_URL) as counted:
        for _ in range(50):
            clock.advance(0.01)
            cb.call(lambda: None)
    assert dict(counted.by_command) == {"EVALSHA": 50}

    for _ in range(3):
        with pytest.raises(TransientError):
            cb.call(fail)
    with RedisCommandCounter(settings.REDIS_URL) as counted:
        for _ in range(50):
            clock.advance(0.01)  # 0.5 s in all: within the refresh interval
            with pytest.raises(CircuitOpenError):
                cb.call(lambda: None)
    assert counted.total == 0


class ClientSampler:
    """Polls the Redis server's list of client connections (CLIENT LIST) until stopped,
    keeping the peak of all connections and of the breakers' named ones."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url, decode_responses=True)
        self.baseline = len(self._client.client_list())
        self.peak = self.baseline
        self.peak_named = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stopped.is_set():
            clients = self._client.client_list()
            self.peak = max(self.peak, len(clients))
            named = sum(1 for client in clients if client["name"] == REDIS_CLIENT_NAME)
            self.peak_named = max(self.peak_named, named)

    def __enter__(self) -> ClientSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._client.close()


def test_hundreds_of_short_lived_threads_share_a_bounded_number_of_connections(breaker_redis, workers, redis_client):
    threads = 300
    config = CircuitBreakerConfig(
        failure_threshold=250, window_size=threads, minimum_requests=threads, recovery_timeout=60.0
    )
    cb = CircuitBreaker("threads_svc", config)
    cb.call(lambda: None)  # seeds the keys and loads the scripts
    outcomes = []

    def one_failing_call() -> None:
        try:
            cb.call(fail)
        except (TransientError, CircuitOpenError) as exc:
            outcomes.append(type(exc))
        finally:
            connection.close()  # the thread that opened the breaker wrote its transition

    with ClientSampler(settings.REDIS_URL) as sampler:
        started = [threading.Thread(target=one_failing_call) for _ in range(threads)]
        for thread in started:
            thread.start()
        for thread in started:
            thread.join()

    assert len(outcomes) == threads
    # The server's count of connections never grew by more than the bound.
    assert sampler.peak - sampler.baseline <= REDIS_MAX_CONNECTIONS, (sampler.baseline, sampler.peak)
    assert 1 <= sampler.peak_named <= REDIS_MAX_CONNECTIONS
    # Every failure up to the opening reached Redis: nothing fell back to this process.
    assert outcomes.count(TransientError) >= 250
    assert int(redis_client.hget("cb:{threads_svc}", "cf")) == 250
    workers.start("state", 1, name="threads_svc", config={"failure_threshold": 250, "recovery_timeout": 60.0})
    assert workers.wait() == [0]
    assert redis_client.get("state") == b"open"  # a process started afterwards sees it open


def test_redis_outage_falls_back_to_a_per_process_state(clock):
    import redis

    from tests.services import RedisServer

    server = RedisServer().start()
    try:
        connections = BoundedConnections.from_url(
            server.url, max_connections=2, wait=1.0, decode_responses=True, socket_timeout=0.5
        )
        config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30.0)
        store = RedisStore("outage_svc", config, connections=connections)
        cb = CircuitBreaker("outage_svc", config, store=store, clock=clock)
        assert cb.call(lambda: "up") == "up"
        server.stop()
        clock.advance(2)
        assert cb.call(lambda: "still served") == "still served"
        for _ in range(2):
            with pytest.raises(TransientError):
                cb.call(fail)
        with pytest.raises(CircuitOpenError):  # the per-process state opened
            cb.call(lambda: None)
        server.start()
        clock.advance(31)
        assert cb.call(lambda: "back") == "back"  # Redis again, rebuilt from the row
        assert redis.Redis.from_url(server.url).hget("cb:{outage_svc}", "st") is not None
    finally:
        server.cleanup()


def test_async_calls_share_the_redis_state(breaker_redis):
    import asyncio

    from asgiref.sync import sync_to_async
    from django.db import connections

    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30.0)
    cb = CircuitBreaker("async_redis_svc", config)
    other = CircuitBreaker("async_redis_svc", config)  # another process's view

    async def ok():
        return "ok"

    async def broken():
        raise TransientError("down")

    async def scenario():
        assert await cb.call(ok) == "ok"
        for _ in range(2):
            with pytest.raises(TransientError):
                await cb.call(broken)
        with pytest.raises(CircuitOpenError):
            await cb.call(ok)
        await sync_to_async(connections.close_all)()

    asyncio.run(scenario())
    with pytest.raises(CircuitOpenError):
        other.call(lambda: "never runs")
    assert BreakerTransition.objects.filter(breaker__name="async_redis_svc", to_state="open").count() == 1


class CountingListener:
    """A TCP port that accepts and hangs up at once: a database that cannot be used, whose
    connection attempts can be counted."""

    def __init__(self) -> None:
        import socket
        import threading

        self.accepted = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._server.close()


def test_an_unreachable_database_is_retried_once_a_second_not_on_every_call(workers, redis_client):
    listener = CountingListener()
    try:
        url = f"postgres://app@127.0.0.1:{listener.port}/app?sslmode=disable&gssencmode=disable"
        seconds = 2.5
        workers.start("calls", 1, name="no_db_svc", config={}, seconds=seconds, database_url=url)
        assert workers.wait() == [0]
    finally:
        listener.close()
    calls = int(redis_client.get("succeeded"))
    assert calls >= 50  # every call was served from Redis meanwhile
    # Start-up, the first call and seeding the Redis keys each try once; after that one
    # attempt per second of the run (never one per call).
    assert 4 <= listener.accepted <= 3 + seconds + 2, (listener.accepted, calls)
