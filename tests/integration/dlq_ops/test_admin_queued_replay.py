"""A large admin replay runs in a real Celery worker, on the snapshot ids only."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from reliability.admin.dead_letters import INLINE_REPLAY_MAX
from reliability.audit import AuditRecord
from reliability.dlq.models import DeadLetter, DeadLetterStatus
from tests.integration.dlq_ops.worker_handlers import HANDLED_KEY, WORKER_TYPE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker(redis_client, tmp_path):
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DLQ_REPLAY_RATE_PER_TYPE": "10000",
        "DLQ_OPS_WORKER": "ops",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "worker.log"
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-n", "ops@%h",
        "-I", "tests.integration.dlq_ops.worker_handlers",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=output)
    try:
        wait_for(lambda: redis_client.exists("dlq-ops:ready:ops") or process.poll() is not None, timeout=30)
        assert process.poll() is None, log.read_text()[-3000:]
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for(condition, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_large_replay_is_queued_and_touches_only_the_snapshot(client, superuser, worker, redis_client, make_letter):
    snapshot = [make_letter(message_type=WORKER_TYPE) for _ in range(INLINE_REPLAY_MAX + 5)]
    client.force_login(superuser)
    page = client.get(
        f"{reverse('admin:reliability_deadletter_confirm', args=['replay'])}?fingerprint={snapshot[0].fingerprint}"
    )
    assert "the replay runs in a worker" in page.content.decode()
    ids = page.context["ids"]
    late = [make_letter(message_type=WORKER_TYPE) for _ in range(3)]

    response = client.post(
        reverse("admin:reliability_deadletter_confirm", args=["replay"]), {"ids": ids, "_confirm": "1"}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [
        f"Replay: {len(snapshot)} queued for a worker, 0 skipped (of {len(snapshot)} selected). "
        "Each outcome lands in the letter's history and the audit trail."
    ]
    resolved = DeadLetter.objects.filter(status=DeadLetterStatus.RESOLVED)
    wait_for(lambda: resolved.count() == len(snapshot), timeout=30)
    assert set(resolved.values_list("id", flat=True)) == {x.pk for x in snapshot}
    assert {int(n): int(c) for n, c in redis_client.hgetall(HANDLED_KEY).items()} == {
        x.payload["n"]: 1 for x in snapshot
    }
    assert DeadLetter.objects.filter(pk__in=[x.pk for x in late], status=DeadLetterStatus.PENDING).count() == 3
    audit = AuditRecord.objects.filter(action="dead_letter.replay")
    assert audit.count() == len(snapshot) and set(audit.values_list("actor_label", flat=True)) == {"admin:root"}
