"""Green API's stand-in down: the level goes to moderate, where replies are still written and
their sends attempted, but the open breaker keeps them queued (no dead letter); the stand-in
back, the breaker closes, each reply is sent once and the level steps down after the hold.

At moderate (the default matrix) AI sentiment is off too: the local fallback answers and
DeepSeek's stand-in gets no request.
"""

from __future__ import annotations

import time

import pytest

from messaging.models import OutboundMessage, SentimentResult, Trigger
from messaging.models import OutboundStatus as S
from reliability.dlq.models import DeadLetter
from tests.e2e.degradation.conftest import chats, history
from tests.integration.dlq.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

REPLY = "Sorry about your order, we are on it."
HOLD = 3.0


def test_green_api_down_raises_the_level_to_moderate_keeps_replies_queued_and_sends_each_once_when_back(stack):
    Trigger.objects.create(name="orders", keywords=["order"], reply_template=REPLY)
    # Enough attempts that the breaker's half-open probes during the outage cannot exhaust a row.
    drill = stack(hold=HOLD, OUTBOX_MAX_ATTEMPTS="10")
    drill.worker("w1")
    drill.monitor()
    customers = chats(100, 6)

    drill.green.control(outage=True)
    raised = drill.wait_for_level(2, timeout=60)
    assert raised.reason == "breaker_open:green_api"
    for chat in customers:
        assert drill.customer_writes(chat, "Where is my order?")[1].status_code == 200
    wait_for(lambda: OutboundMessage.objects.count() == len(customers), timeout=30, what="every reply written")
    time.sleep(2)  # sends attempted and deferred by the open breaker, more than once
    queued = list(OutboundMessage.objects.values_list("status", flat=True))
    assert queued == [S.QUEUED] * len(customers)
    assert "CircuitOpenError" in OutboundMessage.objects.first().last_error
    assert drill.sends() == 0
    assert not DeadLetter.objects.exists()
    assert set(SentimentResult.objects.values_list("source", "error_class")) == {("fallback", "")}
    assert drill.deepseek_requests() == 0

    back_at = time.time()
    drill.green.control(outage=False)
    wait_for(lambda: drill.replies_sent(customers, REPLY), timeout=60, what=f"every reply sent\n{drill.logs()}")
    lowered = drill.wait_for_level(0, timeout=30)

    assert [drill.green.sent_count(chat, REPLY) for chat in customers] == [1] * len(customers)
    assert drill.green.duplicates() == 0
    assert history() == [(0, 2, "auto"), (2, 0, "auto")]
    assert lowered.created_at.timestamp() - back_at >= HOLD - 0.5
    assert not DeadLetter.objects.exists()
