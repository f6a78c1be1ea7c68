"""The claim query stays cheap as the table grows: it walks the partial index."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from reliability.dlq.claim import claim_select_sql
from reliability.dlq.models import DeadLetter

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def test_claim_query_uses_the_partial_claim_index():
    table = DeadLetter._meta.db_table
    with connection.cursor() as cursor:
        # 20,000 letters, most of them settled (outside the partial index), a few due.
        cursor.execute(
            f"""
            INSERT INTO {table} (message_type, payload, source, error_class, error_message, traceback,
                                 fingerprint, failure_kind, breaker_name, first_error, status, attempts,
                                 max_retries, next_retry_at, created_at, updated_at, settled_reason)
            SELECT 'whatsapp_message', '{{}}'::jsonb, '', 'TransientError', '', '', md5(g::text), 'transient', '',
                   '{{}}'::jsonb,
                   CASE WHEN g % 50 = 0 THEN 'pending' ELSE 'resolved' END, 0, 5,
                   CASE WHEN g % 50 = 0 THEN now() - interval '1 minute' ELSE NULL END, now(), now(), ''
            FROM generate_series(1, 20000) AS g
            """
        )
        cursor.execute(f"ANALYZE {table}")
        cursor.execute("EXPLAIN " + claim_select_sql(), {"now": timezone.now(), "limit": 100})
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "deadletter_claim_idx" in plan, plan
    assert "Seq Scan" not in plan, plan
    assert "LockRows" in plan, plan
