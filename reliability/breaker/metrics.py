"""Prometheus metrics of the circuit breakers (seed names).

Requests, failures and response times are counted in the process that saw them.
``circuit_breaker_state`` describes shared state, so it is read from the store at
scrape time by ``breaker_state_collector``; transitions are counted from the shared
history (the ``BreakerTransition`` rows) at scrape time by
``breaker_transition_collector``, so a change counts once whichever process or door made
it, not once per process that noticed it. Both are registered in
``ReliabilityConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from reliability.breaker.models import BreakerState

logger = structlog.get_logger(__name__)

requests_total = Counter(
    "circuit_breaker_requests",
    "Calls through a breaker, by outcome: success, failure, ignored (raised, not counted) or rejected.",
    ["name", "outcome"],
)
failures_total = Counter("circuit_breaker_failures", "Calls that counted as failures.", ["name"])
response_time = Histogram(
    "circuit_breaker_response_time",
    "Duration of calls a breaker let through, in seconds.",
    ["name"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
# Per process, set when it happens: 1 while some live process keeps this breaker's state in
# its own memory because Redis does not answer (it goes back to Redis when Redis answers).
local_fallback = Gauge(
    "circuit_breaker_local_fallback",
    "1 while a process runs this breaker on a per-process state because Redis is unreachable.",
    ["name"],
    multiprocess_mode="livemax",
)

# The gauge's value per state; documented in the help text for dashboards and alerts.
STATE_VALUES = {
    BreakerState.CLOSED.value: 0,
    BreakerState.OPEN.value: 1,
    BreakerState.HALF_OPEN.value: 2,
    BreakerState.FORCED_OPEN.value: 3,
    BreakerState.DISABLED.value: 4,
    BreakerState.METRICS_ONLY.value: 5,
}


class BreakerStateCollector(Collector):
    """``circuit_breaker_state{name}`` for every known breaker, from the shared store."""

    def collect(self) -> Iterable[Metric]:
        from reliability.breaker.selectors import breaker_names, breaker_state

        gauge = GaugeMetricFamily(
            "circuit_breaker_state",
            "Breaker state: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled, 5 metrics only.",
            labels=["name"],
        )
        try:
            names = breaker_names()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because a store does
            logger.warning("circuit_breaker_metrics_unavailable", error=exc.__class__.__name__)
            names = []
        for name in names:
            try:
                state = breaker_state(name=name)
            except Exception as exc:  # noqa: BLE001 - the gap shows in Prometheus
                logger.warning("circuit_breaker_metrics_unavailable", name=name, error=exc.__class__.__name__)
                continue
            gauge.add_metric([name], STATE_VALUES[state])
        yield gauge


breaker_state_collector = BreakerStateCollector()


class BreakerTransitionCollector(Collector):
    """``circuit_breaker_transitions_total{name,to_state,reason}``: the rows of the transition history.

    One grouped count over the history table per scrape; transitions are rare (a few per
    incident), so the table stays small. A transition whose row could not be written
    (the database was down) is in the logs only.
    """

    def collect(self) -> Iterable[Metric]:
        from reliability.breaker.selectors import breaker_transition_counts

        try:
            counts = breaker_transition_counts()
        except Exception as exc:  # noqa: BLE001 - the gap shows in Prometheus
            logger.warning("circuit_breaker_transition_metrics_unavailable", error=exc.__class__.__name__)
            return
        family = CounterMetricFamily(
            "circuit_breaker_transitions",
            "State changes in the shared history, by breaker, state entered and reason.",
            labels=["name", "to_state", "reason"],
        )
        for row in counts:
            family.add_metric([row["name"], row["to_state"], row["reason"]], row["count"])
        yield family


breaker_transition_collector = BreakerTransitionCollector()
