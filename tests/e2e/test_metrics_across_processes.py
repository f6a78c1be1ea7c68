"""One scrape of /metrics adds up two gunicorn workers, a Celery worker and management commands.

The run (``tests/e2e/metrics_run.py``) is built once for the module; every test here
only reads it. The same scrape passes ``promtool check metrics``, holds every metric
the seed promises and every metric the Grafana dashboard and the alert rules read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.metrics_run import CHATS, POLL_CHAT, ROOT, RealRun, real_run
from tests.promql import metric_names
from tests.promtool import promtool

pytestmark = pytest.mark.integration

STORED = {"type_webhook": "incomingMessageReceived", "outcome": "stored"}
SEED_METRICS = (
    "circuit_breaker_requests_total",
    "circuit_breaker_state",
    "circuit_breaker_failures_total",
    "circuit_breaker_response_time",
    "retry_attempts_total",
    "retry_delay_seconds",
    "health_check_duration_seconds",
    "health_check_status",
    "health_check_total",
    "fallback_usage_total",
    "dlq_messages_total",
    "dlq_messages_added_total",
    "dlq_processing_duration_seconds",
)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Iterator[RealRun]:
    yield from real_run(tmp_path_factory.mktemp("metrics-run"))


@pytest.fixture(scope="module")
def scrape(run) -> str:
    return run.scrape()


def value(scrape: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            if sample.name == name and sample.labels == (labels or {}):
                return sample.value
    return None


def sample_names(scrape: str) -> set[str]:
    return {sample.name for family in text_string_to_metric_families(scrape) for sample in family.samples}


def test_two_gunicorn_workers_a_celery_worker_and_commands_add_up_on_one_scrape(run, scrape):
    n = run.webhooks_posted
    # Webhooks: each gunicorn worker took some, the poll command one; the scrape has the sum.
    webhooks = run.per_process("messaging_webhooks_received_total", STORED)
    assert set(webhooks) == {"gunicorn worker 1", "gunicorn worker 2", "manage.py green_api_poll"}
    assert webhooks["gunicorn worker 1"] + webhooks["gunicorn worker 2"] == n
    assert webhooks["manage.py green_api_poll"] == 1
    assert value(scrape, "messaging_webhooks_received_total", STORED) == n + 1
    # The webhook's breaker counted each request in the worker that served it.
    assert value(scrape, "circuit_breaker_requests_total", {"name": "api_webhooks", "outcome": "success"}) == n
    # The Celery worker's pool process asked DeepSeek and replied, once per message.
    deepseek = run.per_process("circuit_breaker_requests_total", {"name": "deepseek", "outcome": "success"})
    assert deepseek == {"celery pool process": n + 1}
    assert value(scrape, "messaging_sentiment_total", {"source": "deepseek"}) == n + 1
    assert value(scrape, "messaging_reply_latency_seconds_count") == n + 1
    # Sends: n + 1 replies by the worker, the replayed message by `dlq replay`.
    sends = run.per_process("messaging_send_attempts_total", {"outcome": "sent"})
    assert sends == {"celery pool process": n + 1, "manage.py dlq replay": 1}
    assert value(scrape, "messaging_send_attempts_total", {"outcome": "sent"}) == n + 2
    assert value(scrape, "messaging_send_attempts_total", {"outcome": "rejected"}) == 1
    assert value(scrape, "dlq_messages_added_total", {"message_type": "whatsapp_message"}) == 1
    assert value(scrape, "dlq_replays_total", {"message_type": "whatsapp_message", "outcome": "resolved"}) == 1
    assert value(scrape, "dlq_messages_total", {"status": "resolved", "message_type": "whatsapp_message"}) == 1


def test_a_transition_or_level_change_counts_once_whichever_door_made_it(run, scrape):
    # Forced open by a command, reset through the ops API in a gunicorn worker: each once,
    # although every gunicorn worker and the Celery worker know the breaker.
    forced = {"name": "api_triggers", "to_state": "forced_open", "reason": "operator"}
    closed = {"name": "api_triggers", "to_state": "closed", "reason": "operator"}
    assert value(scrape, "circuit_breaker_transitions_total", forced) == 1
    assert value(scrape, "circuit_breaker_transitions_total", closed) == 1
    assert run.per_process("circuit_breaker_transitions_total") == {}
    assert value(scrape, "circuit_breaker_state", {"name": "api_triggers"}) == 0
    # The same for degradation: set by a command, cleared through the ops API.
    assert value(scrape, "degradation_events_total", {"from": "normal", "to": "moderate", "source": "operator"}) == 1
    assert value(scrape, "degradation_events_total", {"from": "moderate", "to": "normal", "source": "operator"}) == 1
    assert run.per_process("degradation_events_total") == {}
    assert value(scrape, "system_degradation_level") == 0


def test_shared_state_is_read_at_scrape_time(run, scrape):
    assert value(scrape, "celery_workers_alive") == 1
    assert value(scrape, "health_check_status", {"check": "database"}) == 1
    assert value(scrape, "health_check_status", {"check": "celery_workers"}) == 1
    assert value(scrape, "messaging_outbound_messages", {"status": "failed"}) == 0
    assert value(scrape, "dlq_oldest_pending_age_seconds") == 0


def test_the_real_scrape_passes_promtool_check_metrics(scrape):
    done = promtool("check", "metrics", stdin=scrape)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_seed_metric_is_on_the_scrape(scrape):
    families = {family.name: family.type for family in text_string_to_metric_families(scrape)}
    names = sample_names(scrape)
    missing = [name for name in SEED_METRICS if name not in names and f"{name}_bucket" not in names]
    assert not missing, f"seed metrics missing from the scrape: {missing}"
    assert families["dlq_messages_total"] == "unknown"  # a gauge by meaning, untyped for its seed name


def test_every_dashboard_expression_reads_metrics_the_scrape_exposes(scrape):
    dashboard = json.loads((ROOT / "ops" / "grafana" / "dashboard.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(expressions) >= 20
    exposed = sample_names(scrape)
    for expression in expressions:
        names = metric_names(expression)
        assert names, expression
        assert names <= exposed, f"{expression!r} reads {names - exposed}, which the scrape does not expose"


def test_every_alert_rule_reads_metrics_the_scrape_exposes(scrape):
    rules = yaml.safe_load((ROOT / "ops" / "prometheus" / "alerts.yml").read_text())
    exposed = sample_names(scrape)
    for rule in (rule for group in rules["groups"] for rule in group["rules"]):
        names = metric_names(rule["expr"])
        assert names and names <= exposed, f"{rule['alert']} reads {names - exposed}, absent from the scrape"


def test_no_label_carries_a_chat_or_message_id(run, scrape):
    assert POLL_CHAT.split("@")[0] not in scrape
    assert not any(chat.split("@")[0] in scrape for chat in CHATS)
    labels = {
        label
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
        for label in sample.labels
    }
    assert not labels & {"chat_id", "chatId", "id_message", "idMessage", "message_id", "error", "text"}
