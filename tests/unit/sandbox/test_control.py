"""The control endpoint: strict switches, reports of what was received, the token kept out."""

from __future__ import annotations

import pytest
import requests

from sandbox import GreenApiStandIn, SwitchError, defaults


def _control(stand_in, payload=None, *, data=None):
    return requests.post(f"{stand_in.control_url}/_sandbox/control", json=payload, data=data, timeout=10)


def test_post_control_changes_switches_and_answers_the_state(green):
    response = _control(green, {"latency_ms": 25, "error_rate": 0.5, "state_instance": "starting", "seed": 3})
    assert response.status_code == 200
    switches = response.json()["switches"]
    assert switches["latency_ms"] == 25 and switches["error_rate"] == 0.5
    assert switches["state_instance"] == "starting" and switches["seed"] == 3
    assert requests.get(f"{green.control_url}/_sandbox/state", timeout=10).json()["switches"] == switches


def test_the_api_port_serves_the_control_endpoint_too_and_the_control_port_nothing_else(green):
    assert requests.get(f"{green.url}/_sandbox/state", timeout=10).json()["port"] == green.port
    path = f"/waInstance{defaults.ID_INSTANCE}/getStateInstance/{defaults.INSTANCE_TOKEN}"
    assert requests.get(f"{green.control_url}{path}", timeout=10).status_code == 404


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"latency_ms": "fast"}, "latency_ms must be a whole number"),
        ({"latency_ms": True}, "latency_ms must be a whole number"),
        ({"latency_ms": -1}, "between 0 and 600000"),
        ({"latency_ms": 10**30}, "between 0 and 600000"),
        ({"error_rate": 1.5}, "error_rate must be between 0 and 1"),
        ({"error_rate": "0.3"}, "error_rate must be a number"),
        ({"error_status": 200}, "between 400 and 599"),
        ({"outage": "on"}, "outage must be true or false"),
        ({"lost_reply_mode": "drop"}, "lost_reply_mode must be one of: close, late"),
        ({"state_instance": "online"}, "state_instance must be one of"),
        ({"status_delays_ms": [1, 2]}, "a list of 3 whole numbers"),
        ({"methods": "sendMessage"}, "a list of method names"),
        ({"mode": "blank"}, "unknown switch 'mode'"),
        ({"latency_ms": 5, "error_rate": 2}, "error_rate must be between 0 and 1"),
        ([1, 2], "a JSON object of switches"),
    ],
)
def test_a_bad_switch_is_a_400_naming_it_and_changes_nothing(green, payload, message):
    before = green.state()
    response = _control(green, payload)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert green.state() == before


@pytest.mark.parametrize("raw", [b"{", b'{"error_rate": NaN}', b'{"latency_ms": Infinity}', b"\x00\xff", b"[" * 50_000])
def test_a_control_body_that_is_not_json_is_a_400(green, raw):
    response = _control(green, data=raw)
    assert response.status_code == 400
    assert response.json()["error"]


def test_an_oversized_control_body_is_413(green):
    assert _control(green, data=b'{"x": "' + b"a" * 70_000 + b'"}').status_code == 413


def test_unknown_control_paths_are_404_and_wrong_verbs_405(green):
    assert requests.get(f"{green.control_url}/_sandbox/nothing", timeout=10).status_code == 404
    response = requests.get(f"{green.control_url}/_sandbox/control", timeout=10)
    assert response.status_code == 405
    assert "POST /_sandbox/control" in response.json()["error"]


def test_control_from_python_validates_like_the_endpoint(green):
    with pytest.raises(SwitchError, match="error_rate"):
        green.control(error_rate=-0.1)
    with pytest.raises(SwitchError, match="unknown switch"):
        GreenApiStandIn(latncy_ms=5)


def test_requests_lists_what_was_received_with_the_token_redacted(green, calls):
    calls.send("Recorded")
    calls.session.get(calls.url("getStateInstance", token="a-wrong-secret"), timeout=10)
    entries = requests.get(f"{green.control_url}/_sandbox/requests", timeout=10).json()["requests"]
    assert [(e["method"], e["endpoint"], e["status"]) for e in entries] == [
        ("POST", "sendMessage", 200),
        ("GET", "getStateInstance", 401),
    ]
    assert entries[0]["json"] == {"chatId": "79005550101@c.us", "message": "Recorded"}
    assert entries[0]["path"] == f"/waInstance{defaults.ID_INSTANCE}/sendMessage/***"
    shown = str(entries) + str(green.stats()) + str(green.state())
    assert defaults.INSTANCE_TOKEN not in shown and "a-wrong-secret" not in shown


def test_the_request_log_is_bounded(green_factory):
    green = green_factory(request_log_size=3)
    for _ in range(5):
        requests.get(f"{green.url}/nowhere", timeout=10)
    assert len(green.requests()) == 3
    assert green.stats()["requests"]["other"] == {"404": 5}


def test_stats_report_sends_duplicates_and_webhooks(green, calls, receiver):
    calls.send("Twice")
    calls.send("Twice")
    receiver.wait_for(lambda got: len(got) == 8)
    stats = requests.get(f"{green.control_url}/_sandbox/stats", timeout=10).json()
    assert stats["sends"] == {"accepted": 2}
    assert stats["duplicates"] == 1
    assert stats["sent"] == [{"chatId": "79005550101@c.us", "message": "Twice", "count": 2}]
    assert stats["webhooks"]["delivered"] == 8


def test_the_journal_and_incoming_routes(green, receiver):
    answer = requests.post(
        f"{green.control_url}/_sandbox/incoming",
        json={"chatId": "79005550102@c.us", "text": "Hi there", "senderName": "Boris"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert answer.json()["typeWebhook"] == "incomingMessageReceived"
    receiver.wait_for(lambda got: len(got) == 1)
    bad = requests.post(f"{green.control_url}/_sandbox/incoming", json={"chatId": "x", "text": ""}, timeout=10)
    assert bad.status_code == 400
    assert requests.get(f"{green.control_url}/_sandbox/journal", timeout=10).json() == {"messages": []}
