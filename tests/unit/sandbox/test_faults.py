"""Faults switch at run time: outage, seeded errors, lost replies, latency, endpoint filter."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from sandbox import DeepSeekStandIn
from tests.unit.sandbox.conftest import CUSTOMER, GreenApiCalls, eventually


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_an_outage_refuses_connections_while_the_control_port_stays_up(green, calls):
    assert calls.send("before").status_code == 200  # leaves a kept-alive connection in the pool
    green.control(outage=True)
    assert _refused(green.port)
    with pytest.raises(requests.ConnectionError):
        calls.send("during")
    state = requests.get(f"{green.control_url}/_sandbox/state", timeout=10).json()
    assert state["switches"]["outage"] is True
    assert green.sent_count(CUSTOMER, "during") == 0
    green.control(outage=False)
    assert calls.send("after").status_code == 200
    assert green.port == state["port"]


def test_an_outage_asked_for_on_the_api_port_still_answers_the_asker(green):
    response = requests.post(f"{green.url}/_sandbox/control", json={"outage": True}, timeout=10)
    assert response.status_code == 200 and response.json()["switches"]["outage"] is True
    assert _refused(green.port)


def test_an_outage_cuts_a_request_caught_in_flight(green_factory):
    green = green_factory(latency_ms=2000)
    calls = GreenApiCalls(green)
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            calls.send("in flight")
        except requests.ConnectionError as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    eventually(lambda: green.stats()["connections"] == 1)
    green.control(outage=True)
    sender.join(timeout=10)
    assert len(outcome) == 1
    # The handler wakes from its latency into the outage and answers nothing, accepts nothing.
    assert [entry["outcome"] for entry in eventually(green.requests)] == ["outage"]
    assert green.sent_count(CUSTOMER, "in flight") == 0


def test_an_outage_of_the_deepseek_stand_in_refuses_too():
    with DeepSeekStandIn(outage=True) as deepseek:
        assert _refused(deepseek.port)
        assert requests.get(f"{deepseek.control_url}/_sandbox/state", timeout=10).status_code == 200
        deepseek.control(outage=False)
        assert not _refused(deepseek.port)


def _send_many(green_factory, **switches):
    green = green_factory(**switches)
    calls = GreenApiCalls(green)
    return [calls.send(f"message {n}").status_code for n in range(100)], green


def test_the_error_rate_is_seeded_and_a_failed_request_accepts_nothing(green_factory):
    statuses, green = _send_many(green_factory, error_rate=0.3, seed=7)
    again, _ = _send_many(green_factory, error_rate=0.3, seed=7)
    other, _ = _send_many(green_factory, error_rate=0.3, seed=8)
    assert statuses == again
    assert statuses != other
    assert set(statuses) == {200, 500}
    assert 15 <= statuses.count(500) <= 45
    for n, status in enumerate(statuses):
        assert green.sent_count(CUSTOMER, f"message {n}") == (1 if status == 200 else 0)
    assert green.stats()["requests"]["sendMessage"] == {"200": statuses.count(200), "error_rate": statuses.count(500)}


def test_the_error_status_is_switchable(green, calls):
    green.control(error_rate=1.0, error_status=503)
    response = calls.send("x")
    assert response.status_code == 503 and response.json()["statusCode"] == 503
    green.control(error_status=499)
    assert calls.send("x").status_code == 499


def test_a_lost_reply_closes_the_connection_after_accepting_the_send(green, calls, receiver):
    green.control(lost_reply_rate=1.0, lost_reply_mode="close")
    with pytest.raises(requests.ConnectionError) as raised:
        calls.send("Accepted, answer lost")
    assert "Remote end closed connection without response" in str(raised.value)
    assert green.sent_count(CUSTOMER, "Accepted, answer lost") == 1
    receiver.wait_for(lambda got: any(r.body.get("status") == "read" for r in got))
    [api_message] = receiver.bodies("outgoingAPIMessageReceived")
    assert api_message["idMessage"] == green.journal()[0]["idMessage"]


def test_a_late_reply_comes_after_the_clients_read_timeout(green, calls):
    green.control(lost_reply_rate=1.0, lost_reply_mode="late", late_reply_ms=1500)
    with pytest.raises(requests.ReadTimeout):
        calls.send("Accepted, answered late", timeout=(5, 0.3))
    assert green.sent_count(CUSTOMER, "Accepted, answered late") == 1
    started = time.monotonic()
    patient = calls.send("Waited for", timeout=30)
    assert patient.status_code == 200 and time.monotonic() - started >= 1.5
    outcomes = [entry["outcome"] for entry in green.requests()]
    assert outcomes == ["lost_late", "lost_late"]


def test_an_answer_takes_no_fixed_delay_without_latency(calls):
    # Headers and body in two writes once cost about 40 ms per call (Nagle against delayed
    # ACKs); even on a loaded machine the median call is far quicker than that.
    timings = []
    for n in range(21):
        started = time.monotonic()
        calls.send(f"timed {n}")
        timings.append(time.monotonic() - started)
    assert sorted(timings)[10] < 0.03


def test_latency_delays_every_answer(green, calls):
    green.control(latency_ms=300)
    started = time.monotonic()
    assert calls.get("getStateInstance").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_methods_limit_the_faults_to_the_named_endpoints(green, calls):
    green.control(error_rate=1.0, methods=["sendMessage"])
    assert calls.get("getStateInstance").status_code == 200
    assert calls.send("x").status_code == 500
    green.control(methods=[])
    assert calls.get("getStateInstance").status_code == 500


def test_reset_forgets_what_was_received_and_restores_the_constructor_switches(green_factory, receiver):
    green = green_factory(webhook_url=receiver.url, latency_ms=5)
    calls = GreenApiCalls(green)
    calls.send("remembered")
    green.control(error_rate=1.0, state_instance="blocked", outage=True)
    state = green.reset()
    assert state["switches"]["latency_ms"] == 5
    assert state["switches"]["error_rate"] == 0.0 and state["switches"]["state_instance"] == "authorized"
    assert state["switches"]["outage"] is False
    assert green.journal() == [] and green.requests() == [] and green.duplicates() == 0
    assert green.stats()["requests"] == {}
    assert calls.send("after reset").status_code == 200


def test_stop_does_not_wait_for_a_late_reply(green_factory):
    green = green_factory(lost_reply_rate=1.0, lost_reply_mode="late", late_reply_ms=60_000)
    calls = GreenApiCalls(green)
    ended: list[BaseException] = []

    def send() -> None:
        try:
            calls.send("held", timeout=120)
        except requests.ConnectionError as exc:
            ended.append(exc)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    eventually(lambda: green.sent_count(CUSTOMER, "held"))
    started = time.monotonic()
    green.stop()
    assert time.monotonic() - started < 5
    sender.join(timeout=10)
    assert len(ended) == 1  # the held request ends without an answer
