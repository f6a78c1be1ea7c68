"""The outbox's open rows on the scrape: counts per status (bounded) and the age of unsettled attempts."""

from __future__ import annotations

import time

import pytest

from messaging import metrics
from messaging.models import OutboundStatus as S
from tests.integration.monitoring.conftest import sample
from tests.integration.outbox.rows import ago, outbound

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def rows(status: str) -> float | None:
    return sample("messaging_outbound_messages", {"status": status})


def oldest(status: str) -> float | None:
    return sample("messaging_outbound_oldest_attempt_age_seconds", {"status": status})


def test_open_rows_are_counted_by_status_and_history_is_not():
    for _ in range(3):
        outbound(S.QUEUED)
    outbound(S.SENDING)
    outbound(S.UNKNOWN, sending_at=ago(600))
    outbound(S.UNKNOWN, sending_at=ago(60))
    outbound(S.FAILED)
    for _ in range(4):
        outbound(S.READ)

    assert [rows(status) for status in ("queued", "sending", "unknown", "failed")] == [3, 1, 2, 1]
    assert rows("read") is None and rows("delivered") is None


def test_the_oldest_unknown_attempt_shows_its_age_and_none_reads_zero():
    assert oldest("unknown") == 0
    before = time.time()
    outbound(S.UNKNOWN, sending_at=ago(900))
    outbound(S.UNKNOWN, sending_at=ago(30))

    age = oldest("unknown")

    assert 900 <= age <= 900 + (time.time() - before) + 1
    assert oldest("sending") == 0


def test_counting_stops_at_the_cap(monkeypatch):
    monkeypatch.setattr(metrics, "OUTBOUND_COUNT_CAP", 2)
    for _ in range(5):
        outbound(S.QUEUED)

    assert rows("queued") == 2
