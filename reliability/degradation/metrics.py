"""Prometheus metrics of degradation and of the fallbacks (seed names).

``system_degradation_level`` describes shared state, so it is read from the shared store
at scrape time (``degradation_level_collector``); ``degradation_events_total`` is counted
from the history (the ``DegradationEvent`` rows) at scrape time
(``degradation_event_collector``), so a change counts once whichever process or door made
it, also one recorded late after the database was down. Both are registered in
``ReliabilityConfig.ready``. Fallback answers are counted in the process that gave them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog
from prometheus_client import Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reliability.degradation.levels import LEVEL_NAMES
from reliability.degradation.state import AUTO, OPERATOR

logger = structlog.get_logger(__name__)

# Seed name. service: the dependency a fallback stood in for (deepseek, green_api,
# database, redis); reason: why (circuit_open, failed, not_allowed, read_only,
# unavailable). Both come from short fixed lists.
fallback_usage = Counter(
    "fallback_usage_total",
    "Answers given by a local fallback instead of a dependency, by service and reason.",
    ["service", "reason"],
)
# 1 while at least one live process answers from its own memory because Redis is down.
fallback_active = Gauge(
    "fallback_active",
    "1 while a process serves from a per-process fallback instead of the shared store, by service.",
    ["service"],
    multiprocess_mode="livemax",
)

# Declared with their series at 0, so dashboards see the rate before the first fallback.
for _service, _reason in (
    ("green_api", "not_allowed"),
    ("green_api", "circuit_open"),
    ("database", "read_only"),
    ("redis", "unavailable"),
):
    fallback_usage.labels(service=_service, reason=_reason)
fallback_active.labels(service="redis").set(0)


class DegradationLevelCollector(Collector):
    """``system_degradation_level`` (0 normal ... 4 critical) and its source, from the shared store."""

    def collect(self) -> Iterable[Metric]:
        from reliability.degradation.store import state_read_shared

        try:
            state, answered = state_read_shared()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because a store does
            logger.warning("degradation_metrics_unavailable", error_class=type(exc).__name__)
            return
        if state is None or not answered:
            return  # the gap shows in Prometheus; a guess would not
        current = state.effective(time.time())
        yield GaugeMetricFamily(
            "system_degradation_level",
            f"Degradation level: {', '.join(f'{i} {name}' for i, name in enumerate(LEVEL_NAMES))}.",
            value=current.level,
        )
        source = GaugeMetricFamily(
            "system_degradation_source",
            "1 for the source that sets the level now (auto or operator).",
            labels=["source"],
        )
        for name in (AUTO, OPERATOR):
            source.add_metric([name], 1 if current.source == name else 0)
        yield source


degradation_level_collector = DegradationLevelCollector()


class DegradationEventCollector(Collector):
    """``degradation_events_total{from,to,source}``: the rows of the degradation history.

    One grouped count per scrape over a table that grows by a few rows per incident.
    """

    def collect(self) -> Iterable[Metric]:
        from reliability.degradation.selectors import degradation_event_counts

        try:
            counts = degradation_event_counts()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the database does
            logger.warning("degradation_event_metrics_unavailable", error_class=type(exc).__name__)
            return
        family = CounterMetricFamily(
            "degradation_events",
            "Changes of the degradation level in the history, by level left, level entered and source "
            "(auto or operator).",
            labels=["from", "to", "source"],
        )
        for row in counts:
            family.add_metric([row["from"], row["to"], row["source"]], row["count"])
        yield family


degradation_event_collector = DegradationEventCollector()
