"""``python -m sandbox serve | control | play`` as real processes on 127.0.0.1."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from sandbox import defaults
from tests.webhook_receiver import WebhookReceiver

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "cli-webhook-token"
FREE_PORTS = ["--green-api-port", "0", "--green-api-control-port", "0", "--deepseek-port", "0"]
FREE_PORTS += ["--deepseek-control-port", "0"]
STARTED = re.compile(r"sandbox: (?P<name>\S+) on (?P<url>http://127\.0\.0\.1:\d+), control on (?P<control>\S+)")


def _env(**extra: str) -> dict[str, str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GREEN_API_", "DEEPSEEK_")) and key not in ("APP_ENV", "WEB_PORT")
    }
    return {**base, **extra}


def _run(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    """A ``python -m sandbox serve`` process whose stdout is read line by line."""

    def __init__(self, *args: str, command: tuple[str, ...] = ("-m", "sandbox", "serve", "--quiet"), **env: str):
        self.process = subprocess.Popen(
            [sys.executable, *command, *args],
            cwd=ROOT,
            env=_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self._lines.put(line)

    def line(self, pattern: str, *, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; output: {self.output}") from None
            match = re.search(pattern, line)
            if match:
                return match

    def started(self) -> dict[str, re.Match[str]]:
        found = {}
        while len(found) < 2:
            match = self.line(STARTED.pattern)
            found[match["name"]] = match
        return found

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signum)
        code = self.process.wait(timeout=20)
        assert self.process.stderr is not None
        return code, self.process.stderr.read()


@pytest.fixture
def serve():
    processes: list[Serve] = []

    def start(*args: str, **kwargs) -> Serve:
        process = Serve(*args, **kwargs)
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait(timeout=20)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_both_stand_ins_until_a_signal_then_exits_0(serve, signum):
    process = serve(*FREE_PORTS)
    started = process.started()
    green, deepseek = started["green-api"], started["deepseek"]
    path = f"/waInstance{defaults.ID_INSTANCE}/sendMessage/{defaults.INSTANCE_TOKEN}"
    sent = requests.post(green["url"] + path, json={"chatId": "79005550101@c.us", "message": "Hi"}, timeout=10)
    assert sent.status_code == 200
    completion = requests.post(
        deepseek["url"] + "/chat/completions",
        headers={"Authorization": f"Bearer {defaults.DEEPSEEK_API_KEY}"},
        json={"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert completion.status_code == 200
    code, stderr = process.stop(signum)
    assert code == 0
    assert "Traceback" not in stderr
    assert process.output[-1] == "sandbox: stopped\n"


def test_serve_calls_its_webhook_url_with_its_token_and_takes_its_credentials(serve):
    with WebhookReceiver() as receiver:
        process = serve(
            *FREE_PORTS,
            "--webhook-url",
            receiver.url,
            "--webhook-token",
            TOKEN,
            "--id-instance",
            "1101000099",
            "--token",
            "own-instance-token",
        )
        green = process.started()["green-api"]
        wrong = requests.get(f"{green['url']}/waInstance1101000099/getSettings/{defaults.INSTANCE_TOKEN}", timeout=10)
        assert wrong.status_code == 401
        path = "/waInstance1101000099/sendMessage/own-instance-token"
        requests.post(green["url"] + path, json={"chatId": "79005550101@c.us", "message": "Hi"}, timeout=10)
        received = receiver.wait_for(lambda got: len(got) == 4)
        assert {r.authorization for r in received} == {f"Bearer {TOKEN}"}
        assert {r.body["instanceData"]["idInstance"] for r in received} == {1101000099}
        assert process.stop()[0] == 0


def test_serve_takes_its_credentials_from_the_products_environment(serve):
    process = serve(*FREE_PORTS, GREEN_API_TOKEN="token-from-env", DEEPSEEK_API_KEY="sk-from-env")
    started = process.started()
    path = f"/waInstance{defaults.ID_INSTANCE}/getStateInstance/token-from-env"
    assert requests.get(started["green-api"]["url"] + path, timeout=10).status_code == 200
    answer = requests.post(
        started["deepseek"]["url"] + "/chat/completions",
        headers={"Authorization": "Bearer sk-from-env"},
        json={"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert answer.status_code == 200


def test_serve_reports_a_taken_port_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        result = _run("serve", *FREE_PORTS[2:], "--green-api-port", port)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "sandbox: green-api cannot listen on 127.0.0.1: Address already in use"
    ]


def test_serve_refuses_a_webhook_url_off_this_machine_in_one_line():
    result = _run("serve", *FREE_PORTS, "--webhook-url", "https://example.com/hook")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("sandbox: webhook URL must be http://127.0.0.1")


@pytest.mark.parametrize(
    "env, started, skipped",
    [
        ({"GREEN_API_URL": "https://7105.api.greenapi.com"}, ["deepseek"], ["green-api"]),
        ({"DEEPSEEK_BASE_URL": "https://api.deepseek.com"}, ["green-api"], ["deepseek"]),
        ({"GREEN_API_URL": defaults.GREEN_API_URL, "DEEPSEEK_BASE_URL": ""}, ["green-api", "deepseek"], []),
    ],
)
def test_skip_configured_starts_the_stand_ins_nothing_else_replaces(serve, env, started, skipped):
    process = serve(*FREE_PORTS, "--skip-configured", **env)
    names = sorted(process.line(STARTED.pattern)["name"] for _ in started)
    assert names == sorted(started)
    for name in skipped:
        process.line(f"sandbox: {name} is configured elsewhere")
    assert process.stop()[0] == 0


def test_make_runs_procfile_line_starts_only_the_stand_ins_not_configured_elsewhere(serve):
    [line] = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("sandbox:")]
    program, *command = line.removeprefix("sandbox:").removeprefix(" exec").split()
    assert program == "python"  # make run puts .venv/bin first on PATH; honcho's shell execs it
    process = serve(*FREE_PORTS, command=tuple(command), GREEN_API_URL="https://7105.api.greenapi.com")
    assert process.line(STARTED.pattern)["name"] == "deepseek"
    process.line("sandbox: green-api is configured elsewhere")
    assert process.stop(signal.SIGINT)[0] == 0


@pytest.mark.parametrize(
    "env",
    [
        {"GREEN_API_URL": "https://7105.api.greenapi.com", "DEEPSEEK_BASE_URL": "https://api.deepseek.com"},
        {"APP_ENV": "production"},
    ],
)
def test_skip_configured_with_nothing_to_start_idles_until_stopped(serve, env):
    process = serve(*FREE_PORTS, "--skip-configured", **env)
    process.line("no stand-in started")
    time.sleep(1)
    assert process.process.poll() is None  # honcho would stop every process if this one ended
    assert process.stop()[0] == 0


def test_the_control_command_switches_a_running_stand_in(serve):
    process = serve(*FREE_PORTS)
    started = process.started()
    green, deepseek = started["green-api"], started["deepseek"]
    port = int(green["url"].rsplit(":", 1)[1])

    result = _run("control", "green-api", "--url", green["control"], "--outage", "on")
    assert result.returncode == 0, result.stderr
    assert '"outage": true' in result.stdout
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert _run("control", "green-api", "--url", green["control"], "--outage", "off").returncode == 0
    socket.create_connection(("127.0.0.1", port), timeout=5).close()

    result = _run("control", "green-api", "--url", green["control"], "--state-instance", "null", "--latency-ms", "5")
    assert result.returncode == 0, result.stderr
    path = f"/waInstance{defaults.ID_INSTANCE}/getStateInstance/{defaults.INSTANCE_TOKEN}"
    assert requests.get(green["url"] + path, timeout=10).text == "null"

    result = _run("control", "green-api", "--url", green["control"], "--show", "stats")
    assert result.returncode == 0 and '"getStateInstance"' in result.stdout
    result = _run("control", "green-api", "--url", green["control"], "--reset")
    assert result.returncode == 0 and '"state_instance": "authorized"' in result.stdout

    result = _run("control", "deepseek", "--url", deepseek["control"], "--mode", "overloaded")
    assert result.returncode == 0, result.stderr
    answer = requests.post(
        deepseek["url"] + "/chat/completions",
        headers={"Authorization": f"Bearer {defaults.DEEPSEEK_API_KEY}"},
        json={"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert answer.status_code == 503


@pytest.mark.parametrize(
    "args, message",
    [
        (["--error-rate", "2"], "green-api refused control: error_rate must be between 0 and 1"),
        (["--mode", "blank"], "green-api refused control: unknown switch 'mode'"),
    ],
)
def test_the_control_command_reports_a_refused_switch_in_one_line(serve, args, message):
    green = serve(*FREE_PORTS).started()["green-api"]
    result = _run("control", "green-api", "--url", green["control"], *args)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"sandbox control: {message}")


def test_the_control_command_says_when_nothing_answers():
    result = _run("control", "deepseek", "--url", f"http://127.0.0.1:{_closed_port()}", "--outage", "on")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "nothing answers" in line and "Traceback" not in result.stderr


def test_play_posts_the_conversation_in_green_apis_shape_with_the_token():
    with WebhookReceiver() as receiver:
        result = _run("play", "--webhook-url", receiver.url, "--token", TOKEN, "--delay", "0", "--watch", "0")
        received = receiver.webhooks()
    assert result.returncode == 0, result.stderr
    assert len(received) == 4
    assert {r.authorization for r in received} == {f"Bearer {TOKEN}"}
    bodies = [r.body for r in received]
    assert {body["typeWebhook"] for body in bodies} == {"incomingMessageReceived"}
    assert {body["instanceData"]["idInstance"] for body in bodies} == {int(defaults.ID_INSTANCE)}
    assert len({body["idMessage"] for body in bodies}) == 4
    assert {body["senderData"]["senderName"] for body in bodies} == {"Anna", "Boris"}
    lines = result.stdout.splitlines()
    assert lines[0].startswith("1/4 Anna (79005550101@c.us): ") and lines[0].endswith("-> HTTP 200")


@pytest.mark.parametrize("status, words", [(404, "answered 404"), (401, "answered 401"), (500, "answered 500")])
def test_play_stops_at_the_first_refused_webhook_with_one_line(status, words):
    with WebhookReceiver(default_status=status) as receiver:
        result = _run("play", "--webhook-url", receiver.url, "--delay", "0", "--watch", "0")
        assert len(receiver.webhooks()) == 1
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("play: ") and words in line
    assert len(result.stdout.splitlines()) == 1
    assert f"-> HTTP {status}" in result.stdout


def test_play_says_when_nothing_listens():
    result = _run("play", "--webhook-url", f"http://127.0.0.1:{_closed_port()}/api/v1/webhooks/green-api/")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "nothing answers" in line and "make run" in line


def test_play_refuses_a_webhook_off_this_machine():
    result = _run("play", "--webhook-url", "http://example.com/api/v1/webhooks/green-api/")
    assert result.returncode == 2
    assert "127.0.0.1" in result.stderr and "Traceback" not in result.stderr


def test_play_shows_the_replies_a_service_sends_through_the_stand_in_until_read(serve):
    """The receiver plays our service: it answers each customer through the stand-in."""
    stand_in: dict[str, str] = {}

    def reply(body) -> None:
        if body.get("typeWebhook") == "incomingMessageReceived":
            path = f"/waInstance{defaults.ID_INSTANCE}/sendMessage/{defaults.INSTANCE_TOKEN}"
            chat_id = body["senderData"]["chatId"]
            requests.post(stand_in["url"] + path, json={"chatId": chat_id, "message": "Thanks, noted"}, timeout=10)

    with WebhookReceiver(on_body=reply) as receiver:
        green = serve(*FREE_PORTS, "--webhook-url", receiver.url, "--webhook-token", TOKEN).started()["green-api"]
        stand_in["url"] = green["url"]
        result = _run(
            "play",
            "--webhook-url",
            receiver.url,
            "--token",
            TOKEN,
            "--delay",
            "0.1",
            "--watch",
            "20",
            "--green-api-control-url",
            green["control"],
        )
    assert result.returncode == 0, result.stderr
    assert "  reply to Anna: 'Thanks, noted' [read]" in result.stdout
    assert "  reply to Boris: 'Thanks, noted' [read]" in result.stdout
