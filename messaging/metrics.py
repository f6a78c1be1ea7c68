"""Counters of the messaging flow, per process (they reach /metrics through multiprocess mode)."""

from __future__ import annotations

from prometheus_client import Counter

# Seed name. service: the dependency a fallback stood in for (deepseek); reason: why
# (circuit_open, failed, not_allowed). Both come from short fixed lists.
fallback_usage = Counter(
    "fallback_usage_total",
    "Answers given by a local fallback instead of a dependency, by service and reason.",
    ["service", "reason"],
)
FALLBACK_REASONS = ("circuit_open", "failed", "not_allowed")
# Declared with every series at 0, so dashboards see the rate before the first fallback.
for _reason in FALLBACK_REASONS:
    fallback_usage.labels(service="deepseek", reason=_reason)
