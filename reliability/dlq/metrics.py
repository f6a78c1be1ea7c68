"""Prometheus metrics of the dead letter queue.

The queue's size and the age of its oldest open letter describe shared state, so they
are read from the database at scrape time (every process reports the same truth);
additions, replays and handling time are counted where they happen.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)

dlq_messages_added = Counter("dlq_messages_added_total", "Dead letters added, by message type.", ["message_type"])
dlq_replays = Counter(
    "dlq_replays_total", "Dead letter replays, by message type and outcome.", ["message_type", "outcome"]
)
dlq_processing_duration = Histogram(
    "dlq_processing_duration_seconds",
    "Time a replay spent in the message type's handler.",
    ["message_type"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0),
)


def message_type_series_declare(message_type: str) -> None:
    """Create a message type's series at 0 when its handler registers, so a scrape shows them from the start."""
    dlq_messages_added.labels(message_type=message_type)
    dlq_processing_duration.labels(message_type=message_type)


class DeadLetterStateCollector(Collector):
    """``dlq_messages_total{status,message_type}`` and ``dlq_oldest_pending_age_seconds``."""

    def collect(self) -> Iterable[Metric]:
        from reliability.dlq.selectors import dead_letter_counts, dead_letter_oldest_age_seconds

        try:
            counts = dead_letter_counts()
            oldest = dead_letter_oldest_age_seconds()
        except Exception as exc:
            # A scrape must not fail because the database cannot be read (down, or not
            # allowed in this process); the gap shows in Prometheus as a missing series.
            log.warning("dlq_metrics_unavailable", error_class=type(exc).__name__)
            return
        # The seed's name for the queue's size, a gauge. "_total" is reserved for counters,
        # and promtool refuses a gauge named so; untyped, Prometheus stores and queries it
        # as a gauge, and the seed's name stays.
        total = UnknownMetricFamily(
            "dlq_messages_total",
            "Dead letters in the queue, by status and message type (a gauge; untyped for its seed name).",
            labels=["status", "message_type"],
        )
        for row in counts:
            total.add_metric([row["status"], row["message_type"]], row["count"])
        yield total
        yield GaugeMetricFamily(
            "dlq_oldest_pending_age_seconds",
            "Age of the oldest letter still waiting (pending, retrying or exhausted); 0 when none.",
            value=oldest or 0.0,
        )


dead_letter_state_collector = DeadLetterStateCollector()
