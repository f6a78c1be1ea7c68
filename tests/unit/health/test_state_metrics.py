"""A scrape survives a database it cannot read: the scrape-time series go missing, nothing raises."""

from __future__ import annotations

import pytest

from health.metrics import health_state_collector
from messaging.metrics import outbox_state_collector
from reliability.breaker.metrics import breaker_transition_collector


# No django_db mark: every query raises, as with the database down.
@pytest.mark.parametrize("collector", [health_state_collector, outbox_state_collector, breaker_transition_collector])
def test_a_collector_whose_database_is_down_yields_nothing(collector):
    assert list(collector.collect()) == []
