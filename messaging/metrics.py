"""Prometheus metrics of messaging (low cardinality: no chat ids, no message ids).

Counters and the histogram are per process; under gunicorn and Celery they reach
/metrics through prometheus_client's multiprocess mode, like reliability's. They are
declared at import, and ``MessagingConfig.ready`` imports this module, so every series
name is on /metrics from the start. The outbox's open rows are shared state: read from
the database at scrape time by ``outbox_state_collector``, with bounded queries.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import structlog
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from messaging.clients.deepseek import SERVICE as DEEPSEEK
from messaging.clients.green_api import SERVICE as GREEN_API
from messaging.models import WebhookType

# Seed name, declared with the other fallbacks in reliability (the degradation fallbacks
# count it too). Messaging's reasons for the deepseek service: circuit_open, failed, not_allowed.
from reliability.degradation.metrics import fallback_usage
from reliability.retry.metrics import retry_series_declare

FALLBACK_REASONS = ("circuit_open", "failed", "not_allowed")
# Declared with every series at 0, so dashboards see the rate before the first fallback.
for _reason in FALLBACK_REASONS:
    fallback_usage.labels(service="deepseek", reason=_reason)

webhooks_received = Counter(
    "messaging_webhooks_received_total",
    "Green API events received (webhook or poll), by typeWebhook (other: undocumented types, unknown: "
    "refused before it was read) and outcome (stored, duplicate, invalid, forbidden, unauthorized, too_large).",
    ["type_webhook", "outcome"],
)
outbound_transitions = Counter(
    "messaging_outbound_transitions_total",
    "Outbox status changes, by the status left and the status entered (created rows: from_status=new).",
    ["from_status", "to_status"],
)
send_attempts = Counter(
    "messaging_send_attempts_total",
    "sendMessage attempts by outcome: sent, retry, deferred (breaker open), rejected, exhausted, unknown.",
    ["outcome"],
)
sentiment_results = Counter(
    "messaging_sentiment_total", "Sentiment results stored, by source (deepseek or fallback).", ["source"]
)
reconciliations = Counter(
    "messaging_reconciliations_total",
    "Outbound messages of unknown outcome settled, by method (webhook, journal) and outcome (found, absent).",
    ["method", "outcome"],
)
reply_latency = Histogram(
    "messaging_reply_latency_seconds",
    "From an inbound message's arrival to Green API accepting the reply.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)

_KNOWN_TYPES = frozenset(WebhookType.values)
logger = structlog.get_logger(__name__)
# messaging_outbound_messages stops counting a status here: enough to alert on, and a
# scrape never walks a backlog of millions.
OUTBOUND_COUNT_CAP = 10_000

# Declared with their series at 0, so dashboards and alerts see them before the first event.
for _outcome in ("sent", "retry", "deferred", "rejected", "exhausted", "unknown"):
    send_attempts.labels(outcome=_outcome)
for _source in ("deepseek", "fallback"):
    sentiment_results.labels(source=_source)
for _method, _outcome in (("webhook", "found"), ("journal", "found"), ("journal", "absent")):
    reconciliations.labels(method=_method, outcome=_outcome)
for _type in (WebhookType.INCOMING_MESSAGE, WebhookType.OUTGOING_MESSAGE_STATUS, WebhookType.OUTGOING_API_MESSAGE):
    for _outcome in ("stored", "duplicate"):
        webhooks_received.labels(type_webhook=_type, outcome=_outcome)
for _outcome in ("unauthorized", "too_large", "invalid"):
    webhooks_received.labels(type_webhook="unknown", outcome=_outcome)
# The clients' retries (reliability's seed series), before either client first retries.
for _service in (GREEN_API, DEEPSEEK):
    retry_series_declare(_service)


def webhook_type_label(type_webhook: str) -> str:
    """The metric label of a typeWebhook: documented values as they are, anything else "other"."""
    return type_webhook if type_webhook in _KNOWN_TYPES else "other"


def outbound_transition(from_status: str, to_status: str, count: int = 1) -> None:
    if count:
        outbound_transitions.labels(from_status=from_status, to_status=to_status).inc(count)


class OutboxStateCollector(Collector):
    """``messaging_outbound_messages{status}`` and ``messaging_outbound_oldest_attempt_age_seconds{status}``."""

    def collect(self) -> Iterable[Metric]:
        from messaging.selectors import outbound_oldest_attempts, outbound_open_counts

        try:
            counts = outbound_open_counts(cap=OUTBOUND_COUNT_CAP)
            oldest = outbound_oldest_attempts()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the database does
            logger.warning("outbox_metrics_unavailable", error_class=type(exc).__name__)
            return
        rows = GaugeMetricFamily(
            "messaging_outbound_messages",
            f"Outbox rows in each open status (queued, sending, unknown, failed); counting stops at "
            f"{OUTBOUND_COUNT_CAP}.",
            labels=["status"],
        )
        for status, count in counts.items():
            rows.add_metric([status], count)
        yield rows
        age = GaugeMetricFamily(
            "messaging_outbound_oldest_attempt_age_seconds",
            "Age of the oldest send attempt still sending or unknown (not reconciled); 0 when none.",
            labels=["status"],
        )
        now = time.time()
        for status, since in oldest.items():
            age.add_metric([status], max(0.0, now - since.timestamp()) if since is not None else 0.0)
        yield age


outbox_state_collector = OutboxStateCollector()
