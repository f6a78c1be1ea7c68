"""End to end: a webhook accepted to the reply accepted by Green API's stand-in, at a steady 100 webhooks/s.

The whole deployment on this machine: gunicorn (4 sync workers, production profile), a
Celery worker (prefork, 4 processes), the Green API and DeepSeek stand-ins of
``sandbox``, and a trigger that answers every message. Each webhook is a customer's
message from its own chat; its latency runs from the moment the load client sends it to
the moment the Green API stand-in records the ``sendMessage`` of the reply to that chat
(the stand-in's request log, same clock). In between: ingest, the Celery hand-off,
sentiment from DeepSeek's stand-in, the trigger, the outbox row, a second hand-off and
the send.

Two storages, same code: PostgreSQL + Redis (cache, breakers, broker), and the embedded
default (SQLite in WAL mode, kombu's filesystem broker, file cache, breakers in the
database). Green API's own webhooks (the echo of each send and its delivery statuses)
are switched off at the stand-in so that the offered load is exactly the customers'
100 webhooks/s; with them on each reply brings five more webhooks and tasks.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench.databases import database_create, database_drop, database_url
from bench.ingest import Gunicorn, production_env
from sandbox import DeepSeekStandIn, GreenApiStandIn
from sandbox.payloads import incoming_message
from tests.webhook_load import percentile, webhooks_post

BENCH_DB = "bench_e2e"
ROOT = Path(__file__).resolve().parent.parent
RATE = 100.0
SECONDS = 30
WARM_UP = 200
# A rate this machine sustains, for the latency of a message that does not queue behind others.
LOW_RATE = 20.0
LOW_SECONDS = 15
CONCURRENCY = 10
GUNICORN_WORKERS = 4
CELERY_CONCURRENCY = 4
GOAL_P99_MS = 300.0
ID_INSTANCE = "1101000001"
TOKEN = "bench-instance-token-0001"
DEEPSEEK_KEY = "sk-bench-0000000000000000000000"
WEBHOOK_TOKEN = "bench-webhook-token-0001"
REPLY = "Sorry {sender_name}, we are looking into your order."
CREATE_TRIGGER = (
    "from messaging.models import Trigger; "
    f"Trigger.objects.create(name='orders', keywords=['order'], reply_template={REPLY!r})"
)


def _chat(prefix: int, n: int) -> str:
    return f"79{prefix}{n:08d}@c.us"


def _bodies(prefix: int, count: int) -> list[dict]:
    return [
        incoming_message(
            id_instance=ID_INSTANCE,
            wid="79001230000@c.us",
            id_message=f"E2E{prefix}{n:013d}",
            chat_id=_chat(prefix, n),
            sender_name=f"C{n}",
            text="Where is my order?",
        )
        for n in range(count)
    ]


class Stack:
    """gunicorn, one Celery worker and the stand-ins, on the storage ``env`` names."""

    def __init__(self, env: dict[str, str], directory: Path) -> None:
        self.green = GreenApiStandIn(
            id_instance=ID_INSTANCE,
            token=TOKEN,
            webhook_token=WEBHOOK_TOKEN,
            settings={"outgoingWebhook": "no", "outgoingAPIMessageWebhook": "no"},
            request_log_size=20_000,
        )
        self.deepseek = DeepSeekStandIn(api_key=DEEPSEEK_KEY)
        self.green.start()
        self.deepseek.start()
        self.env = {
            **env,
            "GREEN_API_URL": self.green.url,
            "GREEN_API_TOKEN": TOKEN,
            "DEEPSEEK_BASE_URL": self.deepseek.url,
            "DEEPSEEK_API_KEY": DEEPSEEK_KEY,
            "VAR_DIR": str(directory / "var"),
        }
        for command in (["migrate", "--no-input", "-v0"], ["shell", "-c", CREATE_TRIGGER]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=self.env, check=True)
        self.web = Gunicorn(self.env, workers=GUNICORN_WORKERS, log=directory / "gunicorn.log")
        with (directory / "worker.log").open("wb") as log:
            self.worker = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "--pool=prefork",
                    f"--concurrency={CELERY_CONCURRENCY}",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "WARNING",
                ],  # fmt: skip
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )

    def replied(self, chats: set[str]) -> dict[str, float]:
        """When the stand-in recorded the first sendMessage to each of ``chats`` (time.time())."""
        first: dict[str, float] = {}
        for request in self.green.requests():
            body = request.get("json")
            if request["endpoint"] == "sendMessage" and isinstance(body, dict) and body.get("chatId") in chats:
                first.setdefault(body["chatId"], request["at"])
        return first

    def run(self, prefix: int, count: int, *, rate: float) -> tuple[list[float], float, list[float]]:
        """``count`` webhooks sent at ``rate``/s: each reply's latency (s), the replies per second that
        reached Green API (from the first webhook sent to the last reply received), and each webhook's
        answer latency at the client (s)."""
        bodies = _bodies(prefix, count)
        answers = webhooks_post(
            self.web.url, WEBHOOK_TOKEN, bodies, concurrency=CONCURRENCY, rate=rate, headers=PROXY_HEADERS
        )
        assert {answer.status for answer in answers} == {200}, [a for a in answers if a.status != 200][:3]
        chats = {body["senderData"]["chatId"] for body in bodies}
        deadline = time.monotonic() + 120
        while len(replied := self.replied(chats)) < count:
            if time.monotonic() > deadline or self.worker.poll() is not None:
                raise RuntimeError(f"only {len(replied)} of {count} replies reached Green API")
            time.sleep(0.5)
        latencies = [
            replied[body["senderData"]["chatId"]] - answer.sent_at for body, answer in zip(bodies, answers, strict=True)
        ]
        throughput = count / (max(replied.values()) - min(answer.sent_at for answer in answers))
        return latencies, throughput, [answer.latency_s for answer in answers]

    def stop(self) -> None:
        if self.worker.poll() is None:
            self.worker.terminate()
            self.worker.wait(timeout=30)
        self.web.stop()
        self.green.stop()
        self.deepseek.stop()


PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


def _figures(latencies: list[float], throughput: float, answers: list[float]) -> dict[str, float]:
    return {
        "webhook_p50": percentile(answers, 50) * 1000,
        "webhook_p99": percentile(answers, 99) * 1000,
        "count": len(latencies),
        "p50": percentile(latencies, 50) * 1000,
        "p90": percentile(latencies, 90) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "max": max(latencies) * 1000,
        "mean": statistics.mean(latencies) * 1000,
        "throughput": throughput,
    }


def _measure(env: dict[str, str], directory: Path, *, deepseek_down: bool = False) -> dict[str, dict[str, float]]:
    """The steady 100/s run, then one at ``LOW_RATE``/s, on one deployment; with ``deepseek_down`` a third
    at ``LOW_RATE``/s with DeepSeek's stand-in down (sentiment from the fallback)."""
    stack = Stack(env, directory)
    results = {}
    try:
        stack.run(1, WARM_UP, rate=RATE)  # first connections, first requests of each process
        results["full"] = _figures(*stack.run(2, int(RATE * SECONDS), rate=RATE))
        results["low"] = _figures(*stack.run(3, int(LOW_RATE * LOW_SECONDS), rate=LOW_RATE))
        if deepseek_down:
            stack.deepseek.control(outage=True)
            results["no_ai"] = _figures(*stack.run(4, int(LOW_RATE * LOW_SECONDS), rate=LOW_RATE))
        duplicates = stack.green.duplicates()
    finally:
        stack.stop()
    assert duplicates == 0, duplicates
    return results


def main() -> str:
    logging.getLogger("sandbox").setLevel(logging.WARNING)  # a line per request would load this process
    database_create(BENCH_DB, migrate=False)  # each deployment's Stack migrates it
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        directory = Path(tmp)
        for name in ("postgres", "embedded"):
            (directory / name / "prometheus").mkdir(parents=True)
        pg = production_env(database_url(BENCH_DB), str(directory / "postgres" / "prometheus"))
        results["postgres"] = _measure(pg, directory / "postgres", deepseek_down=True)
        embedded = production_env("", str(directory / "embedded" / "prometheus"))
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
            embedded.pop(name, None)
        results["embedded"] = _measure(embedded, directory / "embedded")
    database_drop(BENCH_DB)
    return _section(results)


def _section(results: dict[str, dict[str, dict[str, float]]]) -> str:
    def row(label: str, rate: float, result: dict[str, float], goal: str = "") -> str:
        return (
            f"| {label} | {rate:.0f}/s | {result['count']:,} | {result['throughput']:.0f}/s | {result['p50']:,.0f} "
            f"| {result['p90']:,.0f} | {result['p99']:,.0f} | {result['max']:,.0f} "
            f"| {result['webhook_p50']:.1f} | {result['webhook_p99']:.1f} | {goal} |\n"
        )

    pg, embedded = results["postgres"], results["embedded"]
    met = pg["full"]["p99"] < GOAL_P99_MS
    pg_label, embedded_label = "PostgreSQL + Redis", "embedded: SQLite (WAL) + filesystem broker"
    return (
        "## End to end: webhook to reply\n\n"
        "A customer's message per webhook, each from its own chat, sent at a steady rate "
        f"({RATE:.0f}/s for {SECONDS} s, then {LOW_RATE:.0f}/s for {LOW_SECONDS} s, after {WARM_UP} to warm up) from "
        f"{CONCURRENCY} client threads; a trigger answers every one. Latency: from the "
        "moment the client sends the webhook to the moment the Green API stand-in records the `sendMessage` of the "
        "reply to that chat (same machine, same clock). In between: gunicorn "
        f"({GUNICORN_WORKERS} sync workers, production profile), the Celery hand-off, a Celery worker (prefork, "
        f"{CELERY_CONCURRENCY} processes) asking the DeepSeek stand-in for the sentiment, the trigger, the outbox row "
        "and its own hand-off, and the send. Green API's webhooks back to us (the echo and the delivery statuses, "
        "five per reply) are switched off at the stand-in, so the offered load is exactly the customers'. Replies/s: "
        "replies received over the time from the first webhook sent to the last reply received. Every reply "
        f"arrived once (no duplicate at the stand-in). The stand-ins and the load client share one Python process.\n\n"
        "Webhook p50/p99: the webhook's own answer at the client in the same runs.\n\n"
        "| storage | offered | replies | replies/s | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) "
        "| webhook p50 (ms) | webhook p99 (ms) | goal |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        + row(pg_label, RATE, pg["full"], f"p99 < {GOAL_P99_MS:.0f} ms: {'met' if met else '**missed**'}")
        + row(pg_label, LOW_RATE, pg["low"])
        + row(f"{pg_label}, DeepSeek down (fallback sentiment)", LOW_RATE, pg["no_ai"])
        + row(embedded_label, RATE, embedded["full"])
        + row(embedded_label, LOW_RATE, embedded["low"])
    )


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("APP_ENV", "testing")
    import django

    django.setup()
    print(main())
