"""Messaging's counters from a worker process reach the scrape in multiprocess mode."""

from __future__ import annotations

import pytest

from config.metrics import scrape_registry
from messaging.models import OutboundStatus as S
from messaging.services.outbox import outbound_create
from tests.integration.dlq.conftest import wait_for
from tests.integration.outbox.rows import CHAT, stored
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def sample(registry, name: str, labels: dict[str, str]) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_a_reply_sent_by_a_worker_is_counted_on_the_scrape_of_another_process(
    messaging_worker, green, tmp_path, monkeypatch
):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    messaging_worker("counted", PROMETHEUS_MULTIPROC_DIR=str(directory))
    inbound = stored(bodies.incoming_text("hello", id_message="LATENCY1"))
    row = outbound_create(chat_id=CHAT, text="Hi!", inbound=inbound)
    wait_for(lambda: type(row).objects.get(pk=row.pk).status == S.SENT, timeout=30, what="the reply sent")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    registry = scrape_registry()
    assert sample(registry, "messaging_send_attempts_total", {"outcome": "sent"}) == 1
    assert (
        sample(registry, "messaging_outbound_transitions_total", {"from_status": "sending", "to_status": "sent"}) == 1
    )
    assert sample(registry, "messaging_reply_latency_seconds_count", {}) == 1
    exposed = {metric.name for metric in registry.collect()}
    assert {"messaging_sentiment", "messaging_reconciliations", "messaging_webhooks_received"} <= exposed
