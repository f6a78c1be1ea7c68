from __future__ import annotations

from config.metrics import scrape_registry
from reliability.dlq.metrics import DeadLetterStateCollector


def test_scrape_survives_a_database_it_cannot_read():
    # No django_db mark: every query raises, as with the database down.
    assert list(DeadLetterStateCollector().collect()) == []


def test_a_registered_message_type_is_on_the_scrape_before_its_first_letter(handlers):
    handlers["dlq_metrics_declared"] = lambda payload: None

    registry = scrape_registry()

    assert registry.get_sample_value("dlq_messages_added_total", {"message_type": "dlq_metrics_declared"}) == 0
    labels = {"message_type": "dlq_metrics_declared"}
    assert registry.get_sample_value("dlq_processing_duration_seconds_count", labels) == 0
