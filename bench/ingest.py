"""Webhook ingest under gunicorn, against a bare Django view doing the same single INSERT.

Both run in the same gunicorn (``gunicorn.conf.py``, 4 sync workers), with the production
profile (JSON logs, multiprocess metrics, the breakers in Redis) on the PostgreSQL and
Redis of ``tests.services``, in a database of their own (``bench_ingest``). Load comes
from ``wrk`` on 127.0.0.1 with ``bench/ingest.lua``: each request is an
``incomingMessageReceived`` webhook with its own idMessage. No Celery worker runs: the
enqueued tasks wait in Redis, so only ingest is measured.

- **ours**: ``config.settings``, the whole path: request id and request log line, the
  ``api_webhooks`` breaker (one Redis round trip), the input guard and the other
  middleware, the bearer token, size and JSON checks, cleaning, the instance check, the
  ``INSERT ... ON CONFLICT DO NOTHING``, metrics, and the Celery publish after commit;
- **bare**: ``bench.bare_settings`` (no middleware) and ``bench.bare_urls``: parse the
  body, build the same row, the same INSERT, answer.

The two alternate (bare, ours, bare, ours, ...) so outside load hits both alike; each run
starts from an empty table and an empty queue, after a warm-up.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis
import requests

from bench.databases import database_create, database_drop
from tests.services import free_port

BENCH_DB = "bench_ingest"
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "ingest.lua"
GUNICORN_WORKERS = 4
WRK_THREADS = 2
CONNECTIONS = 8  # two requests in flight per gunicorn worker
DURATION_S = 10
WARM_UP_S = 2
REPEATS = 3
GOAL_RATIO = 0.8
GOAL_P99_MS = 50.0
ID_INSTANCE = "1101000001"
WEBHOOK_TOKEN = "bench-webhook-token-0001"
SETTINGS = {"bare": "bench.bare_settings", "ours": "config.settings"}


def production_env(database_url: str, metrics_dir: str) -> dict[str, str]:
    """The production profile on loopback: real secrets' shapes, TLS ended by a proxy (``X-Forwarded-Proto``)."""
    return {
        **os.environ,
        "APP_ENV": "production",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "GREEN_API_URL": "http://127.0.0.1:9",
        "GREEN_API_ID_INSTANCE": ID_INSTANCE,
        "GREEN_API_TOKEN": "bench-instance-token-0001",
        "GREEN_API_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "DEEPSEEK_BASE_URL": "http://127.0.0.1:9",
        "DEEPSEEK_API_KEY": "sk-bench-0000000000000000000000",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
    }


class Gunicorn:
    """``gunicorn config.wsgi`` with the project's ``gunicorn.conf.py``; logs go to a file."""

    def __init__(self, env: dict[str, str], *, workers: int, log: Path, worker_class: str = "sync") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "config.wsgi",
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "--workers",
                    str(workers),
                    "--worker-class",
                    worker_class,
                ],  # fmt: skip
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=output,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{self.url}/health/live", headers={"X-Forwarded-Proto": "https"}, timeout=5)
                return
            except requests.RequestException:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"gunicorn did not start: {log.read_text(errors='replace')[-2000:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(url: str, *, prefix: str, duration: int, connections: int = CONNECTIONS) -> dict[str, float]:
    """One wrk run: requests/s, latency percentiles (ms), completed requests, non-2xx answers."""
    output = subprocess.run(
        [
            "wrk",
            f"-t{WRK_THREADS}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(SCRIPT),
            f"{url}/api/v1/webhooks/green-api/",
            "--",
            prefix,
            ID_INSTANCE,
            WEBHOOK_TOKEN,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.MULTILINE))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = dict(re.findall(r"(connect|read|write|timeout) (\d+)", output))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50": _ms(latency["50"]),
        "p90": _ms(latency["90"]),
        "p99": _ms(latency["99"]),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(errors.get(kind, 0)) for kind in ("connect", "read", "write")),
        "timeouts": int(errors.get("timeout", 0)),  # no answer within wrk's 2 s
    }


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]


def _reset(url: str, queue: redis.Redis) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE messaging_webhookevent RESTART IDENTITY CASCADE")
    queue.delete("celery")


def _stored(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM messaging_webhookevent").fetchone()[0]


def _run(name: str, server: Gunicorn, url: str, queue: redis.Redis, n: int) -> dict[str, float]:
    _reset(url, queue)
    wrk(server.url, prefix=f"W{name[0].upper()}{n}", duration=WARM_UP_S)
    time.sleep(0.5)  # the warm-up's last requests finish before the table is emptied
    _reset(url, queue)
    before = _cpu_times()
    result = wrk(server.url, prefix=f"R{name[0].upper()}{n}", duration=DURATION_S)
    total, idle = (after - first for after, first in zip(_cpu_times(), before, strict=True))
    result["cpu"] = 1 - idle / total if total else 0.0
    stored, queued = _stored(url), queue.llen("celery")
    # wrk counts the answers it read: a request cut off at either end may still be stored (and enqueued).
    assert result["non_2xx"] == 0 and result["socket_errors"] == 0, (name, result)
    assert abs(stored - result["requests"]) <= 2 * CONNECTIONS + result["timeouts"], (name, result, stored)
    if name == "ours":
        assert abs(queued - stored) <= 2 * CONNECTIONS, f"every stored event is enqueued: {queued} for {stored}"
    return result


def measure(url: str, directory: Path) -> dict[str, list[dict[str, float]]]:
    metrics_dir = directory / "prometheus"
    metrics_dir.mkdir()
    queue = redis.Redis.from_url(os.environ["REDIS_URL"])
    servers = {
        name: Gunicorn(
            {**production_env(url, str(metrics_dir)), "DJANGO_SETTINGS_MODULE": module},
            workers=GUNICORN_WORKERS,
            log=directory / f"{name}.log",
        )
        for name, module in SETTINGS.items()
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    try:
        for n in range(REPEATS):
            for name, server in servers.items():
                runs[name].append(_run(name, server, url, queue, n))
    finally:
        for server in servers.values():
            server.stop()
        queue.delete("celery")
    return runs


def section(runs: dict[str, list[dict[str, float]]]) -> str:
    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[name])

    bare_rps, ours_rps = median("bare", "rps"), median("ours", "rps")
    ratio, ours_p99 = ours_rps / bare_rps, median("ours", "p99")

    def row(label: str, name: str) -> str:
        rates = [run["rps"] for run in runs[name]]
        timeouts = sum(run["timeouts"] for run in runs[name])
        return (
            f"| {label} | {median(name, 'rps'):,.0f} | {min(rates):,.0f} – {max(rates):,.0f} "
            f"| {median(name, 'rps') / bare_rps:.2f}x | {median(name, 'p50'):.1f} | {median(name, 'p90'):.1f} "
            f"| {median(name, 'p99'):.1f} | {timeouts} | {median(name, 'cpu'):.0%} |\n"
        )

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    return (
        "## Webhook ingest\n\n"
        f"`POST /api/v1/webhooks/green-api/` under gunicorn ({GUNICORN_WORKERS} sync workers, `gunicorn.conf.py`), "
        "production profile (JSON logs, multiprocess metrics, breakers in Redis), on the PostgreSQL (fsync off) and "
        "Redis of `tests.services`. Load: `wrk` on 127.0.0.1, "
        f"{WRK_THREADS} threads, {CONNECTIONS} connections, {DURATION_S} s per run after a {WARM_UP_S} s warm-up; "
        "`bench/ingest.lua` gives every request its own idMessage. No worker consumes: each run starts from an "
        "empty table and queue, and checks that every answer was 2xx, every request stored and (ours) every event "
        f"enqueued. {REPEATS} runs of each, alternating; medians, rates with their range. CPU: share of all cores "
        "busy (gunicorn, PostgreSQL, Redis, wrk and anything else on the machine).\n\n"
        "- **ours**: the whole path: request id and log line, the `api_webhooks` breaker middleware (one Redis "
        "round trip), the input guard and the stock middleware, bearer token, size and JSON checks, cleaning, "
        "instance check, the `INSERT ... ON CONFLICT DO NOTHING`, metrics, the Celery publish after commit;\n"
        "- **bare**: `bench.bare_settings` (no middleware) with `bench.bare_urls`: parse the body, build the same "
        "row, the same INSERT, answer.\n\n"
        "| path | requests/s (median) | range | vs bare | p50 (ms) | p90 (ms) | p99 (ms) | over 2 s | CPU busy |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        + row("bare view, one INSERT", "bare")
        + row("ours, full path", "ours")
        + "\n| goal | measured | |\n|---|---|---|\n"
        f"| ours >= {GOAL_RATIO:.0%} of the bare view's throughput | {ratio:.0%} | {verdict(ratio >= GOAL_RATIO)} |\n"
        f"| ours p99 < {GOAL_P99_MS:.0f} ms | {ours_p99:.1f} ms | {verdict(ours_p99 < GOAL_P99_MS)} |\n"
    )


def main() -> str:
    url = database_create(BENCH_DB)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as directory:
        runs = measure(url, Path(directory))
    database_drop(BENCH_DB)
    return section(runs)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("APP_ENV", "testing")
    import django

    django.setup()
    print(main())
