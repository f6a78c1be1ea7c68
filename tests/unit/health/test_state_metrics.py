"""A scrape survives a database it cannot read: the scrape-time series go missing, nothing raises."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from health import selectors as health_selectors
from health.metrics import health_state_collector
from messaging import selectors as messaging_selectors
from messaging.metrics import outbox_state_collector
from reliability.breaker import selectors as breaker_selectors
from reliability.breaker.metrics import breaker_transition_collector


def _down(**_):
    raise OperationalError("connection refused")


@pytest.mark.parametrize(
    ("collector", "module", "function"),
    [
        (health_state_collector, health_selectors, "health_results_latest"),
        (outbox_state_collector, messaging_selectors, "outbound_open_counts"),
        (breaker_transition_collector, breaker_selectors, "breaker_transition_counts"),
    ],
)
def test_a_collector_whose_database_is_down_yields_nothing(monkeypatch, collector, module, function):
    monkeypatch.setattr(module, function, _down)

    assert list(collector.collect()) == []
