"""The database itself down: a webhook cannot be stored, so it is answered 503 with
Retry-After and Green API delivers it again; once the database is back the redelivery is
stored once, held while the level is still critical, and processed and answered once when
the level drops."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psycopg
import pytest

from tests.e2e.conftest import ROOT
from tests.integration.dlq.conftest import wait_for
from tests.services import PostgresServer

pytestmark = pytest.mark.django_db(transaction=True)

REPLY = "Sorry about your order, we are on it."
CHAT = "79004440901@c.us"


@pytest.fixture
def database(tmp_path):
    server = PostgresServer().start()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": server.url, "APP_ENV": "testing", "VAR_DIR": str(tmp_path)},
        check=True,
        timeout=180,
    )
    yield server
    server.cleanup()


def rows(database: PostgresServer, sql: str) -> list[tuple]:
    with psycopg.connect(database.url) as connection:
        return connection.execute(sql).fetchall()


def test_with_the_database_down_a_webhook_gets_503_and_green_apis_redelivery_is_stored_and_answered_once(
    stack, database
):
    drill = stack(hold=2.0, database_url=database.url)
    created = drill.command(
        "shell", "-c", f"from messaging.models import Trigger; Trigger.objects.create(name='orders', "
        f"keywords=['order'], reply_template={REPLY!r})"
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    drill.worker("w1")
    drill.monitor()

    database.stop()
    refused = drill.customer_writes("79004440900@c.us", "Where is my order?")[1]
    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) > 0
    assert "unavailable" in refused.json()["detail"]
    drill.green.incoming(CHAT, "Where is my order?")  # Green API's own delivery, with its retries
    wait_for(lambda: drill.green.webhooks(), timeout=10, what="the first delivery")
    time.sleep(1.0)
    database.start()

    wait_for(lambda: drill.green.sent_count(CHAT, REPLY) == 1, timeout=60, what=f"the reply\n{drill.logs()}")
    deliveries = [d for d in drill.green.webhooks() if d["typeWebhook"] == "incomingMessageReceived"]
    assert deliveries[0]["answer"] == 503 and deliveries[-1]["answer"] == 200, deliveries
    assert [d["answer"] for d in deliveries[:-1]] == [503] * (len(deliveries) - 1)
    assert rows(database, "SELECT chat_id, processing_status FROM messaging_webhookevent "
                          "WHERE type_webhook = 'incomingMessageReceived'") == [(CHAT, "processed")]  # fmt: skip
    levels = rows(database, "SELECT from_level, to_level, reason FROM reliability_degradationevent ORDER BY id")
    assert [(old, new) for old, new, _ in levels] == [(0, 4), (4, 0)], levels
    assert levels[0][2].startswith("database_down")
    time.sleep(1.0)
    assert drill.green.sent_count(CHAT, REPLY) == 1 and drill.green.duplicates() == 0
