"""The breakers' bounded Redis connections: the bound, the wait, LIFO reuse, half-read
replies and forks. Fake connections where the order of events must be exact, the suite's
Redis where the claim is about sockets."""

from __future__ import annotations

import os
import threading
import time
import traceback

import pytest
import redis
from django.conf import settings

from reliability.breaker import connections as connections_module
from reliability.breaker.connections import BoundedConnections

NAME = "test-bounded-connections"


class FakeConnection:
    """Answers every command with its own number; ``HOLD entered release`` first signals
    ``entered`` and then waits for ``release``, keeping the connection busy."""

    def __init__(self, made: list[FakeConnection]) -> None:
        self.number = len(made)
        self.is_connected = True
        made.append(self)

    def send_command(self, *args):
        self.args = args

    def read_response(self):
        if self.args[0] == "HOLD":
            self.args[1].set()
            self.args[2].wait()
        if self.args[0] == "RAISE":
            raise self.args[1]
        return self.number

    def disconnect(self):
        self.is_connected = False


def fakes(max_connections: int, wait: float = 30.0) -> tuple[BoundedConnections, list[FakeConnection]]:
    made: list[FakeConnection] = []
    return BoundedConnections(lambda: FakeConnection(made), max_connections=max_connections, wait=wait), made


def hold(connections: BoundedConnections, release: threading.Event) -> threading.Thread:
    """A thread that keeps one connection busy until ``release`` is set; returns once it has it."""
    entered = threading.Event()
    thread = threading.Thread(target=connections.execute, args=("HOLD", entered, release))
    thread.start()
    assert entered.wait(10), "the holder never got a connection"
    return thread


def real(max_connections: int, wait: float = 1.0, **kwargs) -> BoundedConnections:
    return BoundedConnections.from_url(
        settings.REDIS_URL,
        max_connections=max_connections,
        wait=wait,
        client_name=NAME,
        decode_responses=True,
        **kwargs,
    )


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_no_more_than_the_bound_are_made_and_a_caller_finding_all_busy_waits_for_one():
    connections, made = fakes(max_connections=3)
    release = threading.Event()
    holders = [hold(connections, release) for _ in range(3)]
    answers = []
    late = threading.Thread(target=lambda: answers.append(connections.execute("NUMBER")))
    late.start()
    late.join(0.3)  # time to make a fourth connection, were it allowed to
    assert late.is_alive() and len(made) == 3

    release.set()
    for thread in [*holders, late]:
        thread.join(10)
    assert len(made) == 3
    assert answers[0] in {0, 1, 2}  # the late caller got one of the three


def test_a_caller_that_waits_longer_than_the_wait_gets_a_connection_error():
    connections, made = fakes(max_connections=1, wait=0.2)
    release = threading.Event()
    holder = hold(connections, release)
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError, match="all 1 breaker connections to Redis stayed busy for 0.2 s"):
        connections.execute("NUMBER")
    assert time.monotonic() - started >= 0.19
    release.set()
    holder.join(10)
    assert connections.execute("NUMBER") == 0 and len(made) == 1  # the bound is intact afterwards


def test_the_connection_given_back_last_is_lent_out_first():
    connections, made = fakes(max_connections=2)
    first_done, second_done = threading.Event(), threading.Event()
    first, second = hold(connections, first_done), hold(connections, second_done)
    first_done.set()
    first.join(10)
    second_done.set()
    second.join(10)
    assert connections.execute("NUMBER") == 1
    assert connections.execute("NUMBER") == 1
    assert len(made) == 2


def test_an_interrupted_read_disconnects_the_connection_but_an_error_reply_does_not():
    connections, made = fakes(max_connections=1)
    with pytest.raises(redis.ResponseError):
        connections.execute("RAISE", redis.ResponseError("WRONGTYPE"))
    assert made[0].is_connected  # the error reply was read in full

    class Interrupted(BaseException):
        pass

    with pytest.raises(Interrupted):
        connections.execute("RAISE", Interrupted())
    assert not made[0].is_connected
    assert connections.execute("NUMBER") == 0  # still within the bound: the same one, to reconnect


def test_a_reply_left_half_read_never_reaches_the_next_command(redis_client):
    connections = real(max_connections=1, socket_timeout=0.2)
    with pytest.raises(redis.TimeoutError):
        connections.execute("BLPOP", "nothing-comes", 0.5)  # Redis answers nil after 0.5 s; we stop at 0.2 s
    time.sleep(0.4)  # on the same socket, the late nil would now be read as the next reply
    assert connections.execute("ECHO", "mine") == "mine"


def test_an_idle_connection_the_server_closed_is_replaced_before_use(redis_client, monkeypatch):
    monkeypatch.setattr(connections_module, "POLL_AFTER_IDLE", 0.0)
    connections = real(max_connections=1)
    first = connections.execute("CLIENT", "ID")
    redis_client.client_kill_filter(_id=first)
    assert connections.execute("CLIENT", "ID") != first  # a new connection, not a ConnectionError


def test_connections_are_named_for_client_list(redis_client):
    connections = real(max_connections=1)
    assert connections.execute("CLIENT", "GETNAME") == NAME


def blpop_running(client: redis.Redis, exclude: set[int] = frozenset()) -> bool:
    return any(c["name"] == NAME and c["cmd"] == "blpop" and int(c["id"]) not in exclude for c in client.client_list())


def test_a_forked_child_uses_connections_and_a_bound_of_its_own(redis_client):
    """The parent has one connection busy and one idle: the whole bound of two. The child
    still holds two at once, neither of them the parent's, and the parent's connections
    work afterwards (the child did not shut their sockets down)."""
    connections = real(max_connections=2, wait=0.5)
    busy = threading.Thread(target=connections.execute, args=("BLPOP", "release-parent", 10))
    busy.start()
    wait_until(lambda: blpop_running(redis_client), "the parent's BLPOP")
    idle_id = connections.execute("CLIENT", "ID")
    parent_ids = {int(c["id"]) for c in redis_client.client_list() if c["name"] == NAME}
    assert len(parent_ids) == 2

    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            coord = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
            held = threading.Thread(target=connections.execute, args=("BLPOP", "release-child", 10))
            held.start()
            wait_until(lambda: blpop_running(coord, exclude=parent_ids), "the child's BLPOP")
            child_id = connections.execute("CLIENT", "ID")  # a second one at once
            coord.lpush("release-child", 1)
            held.join(10)
            code = 0 if child_id not in parent_ids else 2
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0

    redis_client.lpush("release-parent", 1)
    busy.join(10)
    assert connections.execute("CLIENT", "ID") in parent_ids - {idle_id}  # the one given back last
    assert connections.execute("CLIENT", "ID") in parent_ids - {idle_id}
