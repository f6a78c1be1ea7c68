"""Prometheus metrics of messaging (low cardinality: no chat ids, no message ids).

Counters and the histogram are per process; under gunicorn and Celery they reach
/metrics through prometheus_client's multiprocess mode, like reliability's. They are
declared at import, and ``MessagingConfig.ready`` imports this module, so every series
name is on /metrics from the start.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from messaging.models import WebhookType

# Seed name, declared with the other fallbacks in reliability (the degradation fallbacks
# count it too). Messaging's reasons for the deepseek service: circuit_open, failed, not_allowed.
from reliability.degradation.metrics import fallback_usage

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


def webhook_type_label(type_webhook: str) -> str:
    """The metric label of a typeWebhook: documented values as they are, anything else "other"."""
    return type_webhook if type_webhook in _KNOWN_TYPES else "other"


def outbound_transition(from_status: str, to_status: str, count: int = 1) -> None:
    if count:
        outbound_transitions.labels(from_status=from_status, to_status=to_status).inc(count)
