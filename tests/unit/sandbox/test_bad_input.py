"""Whatever a client sends, the stand-ins answer a 4xx (or their documented answer), never a 5xx."""

from __future__ import annotations

import socket

import pytest
import requests

from sandbox import defaults
from sandbox.server import StandIn

TOKEN_PATH = f"/waInstance{defaults.ID_INSTANCE}/{{method}}/{defaults.INSTANCE_TOKEN}"


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer:
                break
    return answer


@pytest.mark.parametrize(
    "path",
    [
        TOKEN_PATH.format(method="lastOutgoingMessages") + "?minutes=99999999999999999999999",
        TOKEN_PATH.format(method="lastOutgoingMessages") + "?minutes=%ff%00",
        TOKEN_PATH.format(method="receiveNotification") + "?receiveTimeout=%EF%BC%95",
        TOKEN_PATH.format(method="deleteNotification") + "/99999999999999999999999999",
        TOKEN_PATH.format(method="getStateInstance%00"),
        "/waInstance" + "9" * 5000 + "/getStateInstance/x",
        "/%ff%fe/../..",
    ],
)
def test_odd_green_api_urls_are_answered_with_a_4xx(green, path):
    verb = "DELETE" if "deleteNotification" in path else "GET"
    status = requests.request(verb, green.url + path, timeout=10).status_code
    assert 400 <= status < 500


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: -1\r\n",
        b"Content-Length: abc\r\n",
        b"Content-Length: 99999999999999999999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
    ],
)
@pytest.mark.parametrize("stand_in", ["green", "deepseek"])
def test_odd_body_framing_is_answered_with_a_4xx(request, stand_in, headers):
    server = request.getfixturevalue(stand_in)
    path = TOKEN_PATH.format(method="sendMessage") if stand_in == "green" else "/chat/completions"
    body = b"zz\r\nnot-a-chunk\r\n" if b"chunked" in headers else b""
    answer = _raw(server.port, b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body)
    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500


def test_a_malformed_request_line_is_a_400(green):
    # http.server answers a request line it cannot read the HTTP/0.9 way: a body only.
    assert b"400 - Bad request syntax" in _raw(green.port, b"NOT HTTP AT ALL\r\n\r\n")
    assert _raw(green.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 200 + b"\r\n").startswith(b"HTTP/1.1 431")


@pytest.mark.parametrize(
    "body",
    [
        {"chatId": "79005550101@c.us", "message": "x", "typingTime": 10**400},
        {"chatId": {"nested": [1, 2, {"deep": None}]}, "message": "x"},
        {"chatId": "79005550101@c.us", "message": "x" * 5, "linkPreview": None},
        {"": ""},
    ],
)
def test_odd_send_message_bodies_are_400(calls, body):
    assert calls.post("sendMessage", json=body).status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": [1, None, {"text": 5}]}]},
        {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "json"}], "response_format": "json"},
        {"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "x"}], "max_tokens": 10**400},
        {"model": ["deepseek-v4-flash"], "messages": [{"role": "user", "content": "x"}]},
        {"model": "deepseek-v4-flash", "messages": [None]},
    ],
)
def test_odd_completion_bodies_get_a_4xx_or_an_answer(deepseek, body):
    response = requests.post(
        f"{deepseek.url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {defaults.DEEPSEEK_API_KEY}"},
        timeout=10,
    )
    assert response.status_code < 500


def test_a_stand_in_bug_answers_500_instead_of_passing_for_a_lost_reply():
    class Broken(StandIn):
        name = "broken"

        def handle_api(self, request):
            raise KeyError("oops")

    with Broken() as broken:
        response = requests.get(f"{broken.url}/anything", timeout=10)
    assert response.status_code == 500
    assert "sandbox internal error" in response.json()["error"]
