from __future__ import annotations

import pytest

from tests.promql import metric_names


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("system_degradation_level", {"system_degradation_level"}),
        ("rate(circuit_breaker_failures_total[5m])", {"circuit_breaker_failures_total"}),
        (
            'sum by (check) (rate(health_check_total{status="healthy"}[5m]))'
            " / sum by (check) (rate(health_check_total[5m]))",
            {"health_check_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(messaging_reply_latency_seconds_bucket[10m]))) > 30",
            {"messaging_reply_latency_seconds_bucket"},
        ),
        (
            '(sum(max by (status, message_type) (dlq_messages_total{status=~"pending|retrying"} offset 30m))'
            " or vector(0))",
            {"dlq_messages_total"},
        ),
        (
            "time() - max(health_check_last_run_timestamp_seconds) > 300 or absent(up)",
            {"health_check_last_run_timestamp_seconds", "up"},
        ),
        (
            'max by (name) (circuit_breaker_state) == bool 1 and on (name) x_total{name="a b"}',
            {"circuit_breaker_state", "x_total"},
        ),
    ],
)
def test_the_names_a_promql_expression_reads(expression, names):
    assert metric_names(expression) == names
