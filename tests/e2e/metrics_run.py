"""A real run for the metrics tests: two gunicorn workers, a Celery worker and commands share one directory.

Everything is a real process against a database of its own, the suite's Redis (a
database number of its own) and the sandbox's Green API and DeepSeek stand-ins:

- ``green_api_poll --once`` receives one customer message (Green API's notification queue);
- N customer messages are POSTed to the webhook, concurrently, until both gunicorn
  workers have taken some (N is known exactly);
- ``breakers force-open api_triggers`` (a command) and the ops API's reset (gunicorn);
  ``degradation set moderate`` (a command) and the ops API's clear;
- one Celery worker processes the N + 1 messages: DeepSeek for each, a reply for each;
- a message sent through the API while Green API refuses it (quota) becomes a dead
  letter, which ``dlq replay --all`` sends once the quota is back;
- the health monitor job runs in the worker.

``RealRun.per_process(name, labels)`` reads one process's own counters from its files,
so a test can say who counted what; ``scrape()`` is a GET of /metrics.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests
from django.conf import settings
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from sandbox import DeepSeekStandIn, GreenApiStandIn, defaults, payloads
from tests.integration.dlq.conftest import wait_for
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = "1101000077"
GREEN_TOKEN = "e2e-metrics-green-token-5f1c"
WEBHOOK_TOKEN = "e2e-metrics-webhook-token-77a2"
DEEPSEEK_KEY = "sk-e2e-metrics-deepseek-key-0c9d"
METRICS_TOKEN = "e2e-metrics-scrape-token-31b8"
POLL_CHAT = "79005550900@c.us"
REPLY = "We are on your order."
# Distinct chats: the scrape must not grow with them (no chat ids in labels).
CHATS = [f"7900555{n:04d}@c.us" for n in range(40)]


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


@dataclass
class RealRun:
    directory: Path
    database_url: str
    env: dict[str, str]
    base_url: str
    api_token: str = ""
    roles: dict[int, str] = field(default_factory=dict)
    webhooks_posted: int = 0
    processes: list[subprocess.Popen] = field(default_factory=list)

    # --- reading what was counted --------------------------------------------------------

    def scrape(self) -> str:
        response = requests.get(
            f"{self.base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30
        )
        assert response.status_code == 200, response.text[:500]
        return response.text

    def per_process(self, name: str, labels: dict[str, str] | None = None) -> dict[str, float]:
        """``{role: value}`` of one sample, from each process's own files (roles: ``roles``)."""
        values: dict[str, float] = {}
        for pid, role in self.roles.items():
            files = list(self.directory.glob(f"*_{pid}.db"))
            if not files:
                continue
            with tempfile.TemporaryDirectory() as alone:
                for path in files:
                    shutil.copy(path, alone)
                registry = CollectorRegistry()
                MultiProcessCollector(registry, path=alone)
                value = registry.get_sample_value(name, labels or {})
            if value:
                values[role] = value
        return values

    def query(self, sql: str, *params: Any) -> Any:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql, params).fetchone()[0]

    # --- doing things ---------------------------------------------------------------------

    def manage(self, *args: str, counted: bool = True, role: str | None = None) -> subprocess.CompletedProcess:
        """``manage.py ARGS``; ``counted``: in the multiprocess directory, its pid known as ``role``."""
        env = dict(self.env) if counted else {k: v for k, v in self.env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        if counted:
            self.roles[process.pid] = role or f"manage.py {args[0]}"
        out, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def post_webhook(self, chat_id: str, text: str) -> requests.Response:
        body = payloads.incoming_message(
            id_instance=INSTANCE,
            wid=defaults.WID,
            id_message=f"E2E{uuid.uuid4().hex[:17].upper()}",
            chat_id=chat_id,
            sender_name="Customer",
            text=text,
        )
        return requests.post(
            f"{self.base_url}/api/v1/webhooks/green-api/",
            data=json.dumps(body),
            headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"},
            timeout=30,
        )

    def api(self, method: str, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.request(
            method,
            f"{self.base_url}{path}",
            json=body,
            headers={"Authorization": f"Token {self.api_token}"},
            timeout=30,
        )


def _create_database(tmp: Path) -> str:
    db = settings.DATABASES["default"]
    server = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}"
    name = f"e2e_metrics_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{server}/{name}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT, env={**os.environ, "DATABASE_URL": url, "VAR_DIR": str(tmp / "var")}, check=True, timeout=300,
    )  # fmt: skip
    return url


def _drop_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _own_redis_database() -> str:
    """The suite's Redis, database 9, emptied: no task another test left behind reaches this run."""
    import redis

    url = settings.REDIS_URL.rsplit("/", 1)[0] + "/9"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def real_run(tmp: Path, *, webhooks: int = 20):
    """Build the run described above; a generator for a fixture (yields the ``RealRun``)."""
    directory = tmp / "prometheus"
    directory.mkdir()
    database_url = _create_database(tmp)
    green = GreenApiStandIn(id_instance=INSTANCE, token=GREEN_TOKEN)
    deepseek = DeepSeekStandIn(api_key=DEEPSEEK_KEY)
    green.start()
    deepseek.start()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "REDIS_URL": _own_redis_database(),
        "VAR_DIR": str(tmp / "var"),
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "METRICS_TOKEN": METRICS_TOKEN,
        "GREEN_API_URL": green.url,
        "GREEN_API_ID_INSTANCE": INSTANCE,
        "GREEN_API_TOKEN": GREEN_TOKEN,
        "GREEN_API_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "DEEPSEEK_BASE_URL": deepseek.url,
        "DEEPSEEK_API_KEY": DEEPSEEK_KEY,
        "WORKER_HEARTBEAT_SECONDS": "1",
    }
    run = RealRun(directory=directory, database_url=database_url, env=env, base_url=f"http://127.0.0.1:{port}")
    try:
        _set_up(run)
        _play(run, green, port=port, webhooks=webhooks)
        yield run
    finally:
        for process in reversed(run.processes):
            _stop(process)
        green.stop()
        deepseek.stop()
        _drop_database(database_url)


def _set_up(run: RealRun) -> None:
    created = run.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "from rest_framework.authtoken.models import Token\n"
        "from messaging.models import Trigger\n"
        "user = get_user_model().objects.create_superuser('ops', 'ops@example.com', 'ops-pass-1234')\n"
        f"Trigger.objects.create(name='orders', keywords=['order'], reply_template={REPLY!r})\n"
        "print(Token.objects.create(user=user).key)\n",
        counted=False,
    )
    assert created.returncode == 0, created.stderr
    run.api_token = created.stdout.strip().splitlines()[-1]


def _start_gunicorn(run: RealRun, port: int, log: Path) -> subprocess.Popen:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "config.wsgi",
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "60"],
            cwd=ROOT, env=run.env, stdout=subprocess.DEVNULL, stderr=output,
        )  # fmt: skip
    run.processes.append(process)

    def up() -> bool:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            return requests.get(f"{run.base_url}/health/live", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=90, what="gunicorn")
    workers = wait_for(lambda: len(children(process.pid)) == 2 and children(process.pid), timeout=60,
                         what="two gunicorn workers")  # fmt: skip
    for number, pid in enumerate(sorted(workers), start=1):
        run.roles[pid] = f"gunicorn worker {number}"
    return process


def _start_worker(run: RealRun, log: Path) -> subprocess.Popen:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1",
             "-n", "metrics@%h", "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=ROOT, env=run.env, stdout=output, stderr=output,
        )  # fmt: skip
    run.processes.append(process)
    run.roles[process.pid] = "celery worker"
    child = wait_for(lambda: children(process.pid), timeout=60, what="the Celery pool process")[0]
    run.roles[child] = "celery pool process"
    return process


def _play(run: RealRun, green: GreenApiStandIn, *, port: int, webhooks: int) -> None:
    logs = run.directory.parent
    gunicorn = _start_gunicorn(run, port, logs / "gunicorn.log")

    # A command: one customer message through Green API's notification queue.
    green.incoming(POLL_CHAT, "Where is my order?")
    wait_for(lambda: green.stats()["notifications_queued"], timeout=10, what="the notification queued")
    polled = run.manage("green_api_poll", "--once", role="manage.py green_api_poll")
    assert polled.returncode == 0, polled.stderr

    # Two gunicorn workers: customer messages, concurrently, until each worker took some.
    chats = itertools.cycle(CHATS)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(10):
            batch = [next(chats) for _ in range(webhooks if not run.webhooks_posted else 4)]
            answers = list(pool.map(lambda chat: run.post_webhook(chat, "My order never arrived"), batch))
            assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
            run.webhooks_posted += len(batch)
            counted = run.per_process(
                "messaging_webhooks_received_total", {"type_webhook": "incomingMessageReceived", "outcome": "stored"}
            )
            if sum(1 for role in counted if role.startswith("gunicorn")) == 2:
                break
    assert gunicorn.poll() is None

    # Transitions through two doors: a command forces a breaker open, the ops API resets it.
    forced = run.manage("breakers", "force-open", "api_triggers", "--reason", "drill", role="manage.py breakers")
    assert forced.returncode == 0, forced.stderr
    reset = run.api("POST", "/admin/reliability/circuit-breakers/api_triggers/reset", {"reason": "drill over"})
    assert reset.status_code == 200, reset.text

    # One Celery worker: every message analysed and answered.
    _start_worker(run, logs / "worker.log")
    expected_replies = run.webhooks_posted + 1
    wait_for(
        lambda: run.query("SELECT count(*) FROM messaging_outboundmessage WHERE status = 'sent'") == expected_replies,
        timeout=120,
        what=f"{expected_replies} replies sent",
    )

    # A dead letter: Green API refuses a message (quota); replayed by a command once it is back.
    green.control(quota_exceeded=True)
    sent = run.api("POST", "/api/v1/messages/", {"chat_id": POLL_CHAT, "text": "Your refund is on its way"})
    assert sent.status_code == 202, sent.text
    wait_for(
        lambda: run.query("SELECT count(*) FROM reliability_deadletter WHERE status = 'exhausted'") == 1,
        timeout=60,
        what="the refused message dead-lettered",
    )
    green.control(quota_exceeded=False)
    replayed = run.manage("dlq", "replay", "--all", role="manage.py dlq replay")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr

    # Degradation changes through two doors: the command sets a level, the ops API clears it.
    held = run.manage(
        "degradation", "set", "moderate", "--reason", "drill", "--for", "1h", role="manage.py degradation"
    )
    assert held.returncode == 0, held.stdout + held.stderr
    cleared = run.api("POST", "/admin/reliability/degradation/clear", {"reason": "drill over"})
    assert cleared.status_code == 200, cleared.text

    # The health monitor, as celery-beat would send it.
    queued = run.manage(
        "shell", "-c", "from health.tasks import health_check_monitoring; health_check_monitoring.delay()",
        counted=False,
    )  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    wait_for(lambda: "health_check_status{" in run.scrape(), timeout=60, what="the health monitor's results")
