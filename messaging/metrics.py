"""Counters of the messaging flow, per process (they reach /metrics through multiprocess mode)."""

from __future__ import annotations

# Seed name, declared with the other fallbacks in reliability (the degradation fallbacks
# count it too). Messaging's reasons for the deepseek service: circuit_open, failed, not_allowed.
from reliability.degradation.metrics import fallback_usage

FALLBACK_REASONS = ("circuit_open", "failed", "not_allowed")
# Declared with every series at 0, so dashboards see the rate before the first fallback.
for _reason in FALLBACK_REASONS:
    fallback_usage.labels(service="deepseek", reason=_reason)
