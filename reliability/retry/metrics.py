"""Retry counters and delays, per process (they reach the scrape through multiprocess mode)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# outcome: retried (a retry was scheduled), succeeded_after_retry, gave_up (max_retries
# spent), deadline_exceeded, budget_exhausted (the service's retry budget said no).
RETRY_OUTCOMES = ("retried", "succeeded_after_retry", "gave_up", "deadline_exceeded", "budget_exhausted")
RETRY_ATTEMPTS = Counter(
    "retry_attempts_total",
    "Retry decisions by service and outcome.",
    ["service", "outcome"],
)
RETRY_DELAY = Histogram(
    "retry_delay_seconds",
    "Time slept before a retry.",
    ["service"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0),
)


def retry_series_declare(service: str) -> None:
    """Create ``service``'s series at 0, so a scrape shows them (and rates start) before its first retry."""
    for outcome in RETRY_OUTCOMES:
        RETRY_ATTEMPTS.labels(service=service, outcome=outcome)
    RETRY_DELAY.labels(service=service)
