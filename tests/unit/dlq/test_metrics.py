from __future__ import annotations

from reliability.dlq.metrics import DeadLetterStateCollector


def test_scrape_survives_a_database_it_cannot_read():
    # No django_db mark: every query raises, as with the database down.
    assert list(DeadLetterStateCollector().collect()) == []
