"""Several real processes share one breaker through Redis, or through the database row:
fresh interpreters, and children forked from an initialised parent."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import traceback

import pytest
import redis
from django.db import connections

from reliability.breaker import CircuitBreakerConfig, get_circuit_breaker
from reliability.breaker.models import BreakerState, BreakerTransition, CircuitBreaker
from reliability.breaker.services import breaker_force_open, breaker_reset
from reliability.errors import CircuitOpenError, TransientError
from tests.integration.breaker.conftest import ROOT, SUITE_REDIS_URL
from tests.integration.breaker.worker import TRACK_MAX

pytestmark = pytest.mark.django_db(transaction=True)

PROCESSES = 4


@pytest.mark.parametrize("redis_store", [True, False], ids=["redis", "database"])
def test_opens_after_threshold_failures_in_total_across_processes(workers, redis_client, redis_store):
    threshold = 12
    config = {"failure_threshold": threshold, "recovery_timeout": 60.0, "minimum_requests": 100}
    workers.start("hammer", PROCESSES, name="shared_svc", config=config, redis_store=redis_store, seconds=20)
    assert workers.wait() == [0] * PROCESSES  # every process ended up rejected
    executed = int(redis_client.get("executed"))
    # Only calls already admitted when the breaker opened may overshoot: one per other process.
    assert threshold <= executed <= threshold + PROCESSES - 1
    opened = BreakerTransition.objects.filter(breaker__name="shared_svc", to_state=BreakerState.OPEN)
    assert [t.reason for t in opened] == ["consecutive_failures"]
    assert CircuitBreaker.objects.get(name="shared_svc").state == BreakerState.OPEN


@pytest.mark.parametrize("redis_store", [True, False], ids=["redis", "database"])
def test_half_open_admits_at_most_max_calls_across_processes(workers, redis_client, redis_store, settings):
    if not redis_store:
        settings.REDIS_URL = None
    config = {
        "failure_threshold": 1,
        "recovery_timeout": 0.2,
        "half_open_max_calls": 2,
        "success_threshold": 1000,
        "timeout": 5.0,
    }
    cb = get_circuit_breaker("probe_svc", CircuitBreakerConfig(**config))
    with pytest.raises(TransientError):
        cb.call(lambda: (_ for _ in ()).throw(TransientError("down")))
    assert cb.state == BreakerState.OPEN
    workers.start("trial", PROCESSES, name="probe_svc", config=config, redis_store=redis_store, seconds=2.5)
    workers.wait()
    # 4 processes x 2 threads kept asking; never more than 2 trials ran at once.
    assert int(redis_client.get("max_inflight")) == 2
    assert int(redis_client.get("executed")) >= 4
    assert cb.state == BreakerState.HALF_OPEN


@pytest.mark.parametrize("redis_store", [True, False], ids=["redis", "database"])
def test_trials_that_outlive_their_permit_reopen_the_breaker_across_processes(
    workers, redis_client, redis_store, settings
):
    """Trials take 0.3 s, longer than the 0.1 s timeout: each is a failure, even though its
    permit lapsed meanwhile and another process took the slot."""
    if not redis_store:
        settings.REDIS_URL = None
    config = {
        "failure_threshold": 1,
        "recovery_timeout": 0.5,
        "half_open_max_calls": 1,
        "success_threshold": 1,
        "timeout": 0.1,
        "max_recovery_timeout": 60.0,
    }
    cb = get_circuit_breaker("slow_probe_svc", CircuitBreakerConfig(**config))
    with pytest.raises(TransientError):
        cb.call(lambda: (_ for _ in ()).throw(TransientError("down")))
    workers.start(
        "slow_trial",
        PROCESSES,
        name="slow_probe_svc",
        config=config,
        redis_store=redis_store,
        seconds=3,
        extra_env={"TRIAL_SECONDS": "0.3"},
    )
    workers.wait()
    history = BreakerTransition.objects.filter(breaker__name="slow_probe_svc").order_by("id")
    moves = [(t.from_state, t.to_state, t.reason) for t in history]
    # The first trial of each half-open period reopens it when it ends, 0.3 s in; the
    # open time doubles (1 s, then 2 s), so the 3 s hold two periods of a few trials each.
    # A breaker that dropped the lapsed trials' failures stayed half-open and ran one
    # trial per lapsed permit, about 30.
    assert moves.count(("half_open", "open", "half_open_failure")) >= 2, moves
    assert all(to_state != "closed" for _, to_state, _ in moves), moves
    assert int(redis_client.get("executed")) <= 15


def run_forked(count: int, body) -> list[int]:
    """Fork ``count`` children of this initialised process, each running ``body()``, and
    return their pids. Like a prefork server, the parent closes its database
    connections first so that no child shares the parent's socket."""
    connections.close_all()
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                code = body()
                connections.close_all()
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        pids.append(pid)
    return pids


@pytest.mark.parametrize("redis_store", [True, False], ids=["redis", "database"])
def test_children_forked_after_the_parent_used_the_breaker_hold_their_own_permits(redis_client, redis_store, settings):
    """Six children of a parent that imported the app and minted permit tokens: at most
    two trials at once, and one trial's failure reopens the breaker."""
    if not redis_store:
        settings.REDIS_URL = None
    config = CircuitBreakerConfig(
        failure_threshold=1, recovery_timeout=0.2, half_open_max_calls=2, success_threshold=3, timeout=30.0
    )
    cb = get_circuit_breaker("forked_svc", config)
    with pytest.raises(TransientError):
        cb.call(lambda: (_ for _ in ()).throw(TransientError("down")))
    time.sleep(0.25)
    with pytest.raises(ValueError):  # the parent's own trial: a token minted, nothing decided
        cb.call(lambda: int("not a number"))
    assert cb.snapshot().state == BreakerState.HALF_OPEN

    def child() -> int:
        coord = redis.Redis.from_url(SUITE_REDIS_URL)
        track_max = coord.register_script(TRACK_MAX)

        def trial() -> None:
            track_max(keys=["inflight", "max_inflight"])
            first = coord.incr("admitted") == 1
            time.sleep(0.3 if first else 0.6)
            coord.decr("inflight")
            if not first:
                raise TransientError("the service is still down")

        while not coord.exists("go"):
            time.sleep(0.005)
        try:
            cb.call(trial)
        except (CircuitOpenError, TransientError):
            pass
        return 0

    pids = run_forked(6, child)
    redis_client.set("go", 1)
    assert [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids] == [0] * 6
    assert int(redis_client.get("admitted")) >= 2
    assert int(redis_client.get("max_inflight")) == 2
    assert cb.snapshot().state == BreakerState.OPEN
    reopened = BreakerTransition.objects.filter(breaker__name="forked_svc", from_state="half_open").get()
    assert (reopened.to_state, reopened.reason) == ("open", "half_open_failure")


@pytest.mark.parametrize("redis_store", [True, False], ids=["redis", "database"])
def test_operator_force_and_reset_are_obeyed_by_every_process_within_2_seconds(
    workers, redis_client, redis_store, settings
):
    CircuitBreaker.objects.create(name="ops_svc")
    config = {"failure_threshold": 5, "recovery_timeout": 600.0, "max_recovery_timeout": 600.0}
    workers.start("observe", PROCESSES, name="ops_svc", config=config, redis_store=redis_store, seconds=7)
    time.sleep(1.5)
    if not redis_store:  # this process must use the same store as the workers
        settings.REDIS_URL = None
    forced_at = time.time()
    breaker_force_open(name="ops_svc", actor=None, channel="cli", reason="maintenance")
    time.sleep(2.5)
    reset_at = time.time()
    breaker_reset(name="ops_svc", actor=None, channel="cli", reason="back")
    workers.wait()
    for key in redis_client.keys("events:*"):
        events = [line.decode().split() for line in redis_client.lrange(key, 0, -1)]
        events = [(float(at), seen) for at, seen in events]
        rejected = next(at for at, seen in events if seen == "rejected" and at >= forced_at)
        admitted = next(at for at, seen in events if seen == "admitted" and at >= reset_at)
        assert rejected - forced_at < 2.0, events
        assert admitted - reset_at < 2.0, events
    assert len(redis_client.keys("events:*")) == PROCESSES
    history = BreakerTransition.objects.filter(breaker__name="ops_svc", reason="operator").order_by("id")
    assert [(t.from_state, t.to_state) for t in history] == [("closed", "forced_open"), ("forced_open", "closed")]


def test_database_store_on_sqlite_shares_one_breaker_across_processes(workers, redis_client, tmp_path):
    """The embedded default: SQLite, no Redis; IMMEDIATE transactions serialise the processes."""
    database = tmp_path / "embedded.sqlite3"
    url = f"sqlite:///{database}"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "", "VAR_DIR": str(tmp_path / "var")}
    subprocess.run([sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    threshold = 8
    config = {"failure_threshold": threshold, "recovery_timeout": 60.0, "minimum_requests": 100}
    workers.start(
        "hammer",
        PROCESSES,
        name="embedded_svc",
        config=config,
        redis_store=False,
        seconds=20,
        database_url=url,
        extra_env={"VAR_DIR": str(tmp_path / "var")},
    )
    assert workers.wait() == [0] * PROCESSES
    executed = int(redis_client.get("executed"))
    assert threshold <= executed <= threshold + PROCESSES - 1
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT t.to_state, t.reason FROM reliability_breakertransition t "
            "JOIN reliability_circuitbreaker b ON b.id = t.breaker_id WHERE b.name = 'embedded_svc'"
        ).fetchall()
    assert rows == [("open", "consecutive_failures")]
