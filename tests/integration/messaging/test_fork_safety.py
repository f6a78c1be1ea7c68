"""A process forked after its parent used the clients (gunicorn --preload, Celery prefork)
gets its own sessions: two processes reading one socket would mix up their answers."""

from __future__ import annotations

import os

from messaging.clients.http import process_session
from tests.integration.messaging.conftest import ID_MESSAGE
from tests.integration.messaging.test_green_api_client import send


def run_in_child(fn) -> int:
    """Fork, run ``fn`` (returns an exit code) in the child, and return the child's exit code."""
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = fn()
        finally:
            os._exit(code)  # no atexit handlers, no pytest teardown in the child
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_forked_child_gets_its_own_session_and_connection(green_api):
    send("parent one")
    send("parent two")
    parent_session = process_session("green_api")

    def child() -> int:
        if process_session("green_api") is parent_session:
            return 3
        return 0 if send("from the child") == ID_MESSAGE else 4

    assert run_in_child(child) == 0
    send("parent three")
    port_of = {request.json()["message"]: request.client_port for request in green_api.received()}
    # The parent kept its keep-alive connection; the child opened a new one.
    assert port_of["parent one"] == port_of["parent two"] == port_of["parent three"]
    assert port_of["from the child"] != port_of["parent one"]
    assert process_session("green_api") is parent_session


def test_children_forked_from_one_parent_do_not_share_with_each_other(green_api):
    send("parent")

    def child() -> int:
        session = process_session("green_api")
        send("child")
        return 0 if process_session("green_api") is session else 5

    assert run_in_child(child) == 0
    assert run_in_child(child) == 0
    ports = {request.client_port for request in green_api.received()}
    assert len(ports) == 3
