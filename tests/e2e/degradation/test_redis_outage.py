"""Redis (cache, breakers, broker, published level) stopped in the middle of a webhook run.

Webhooks keep being answered 200 and stored once, though their processing tasks cannot be
published; the level rises to severe within one monitor interval, so nothing is sent while
it lasts; Redis back, the sweeper hands on what the broker lost, the level steps down after
the hold, the release sends what was held, and every customer gets exactly one reply.
"""

from __future__ import annotations

import time

import pytest
import requests

from messaging.models import OutboundMessage, Trigger, WebhookEvent
from tests.e2e.degradation.conftest import MONITOR_INTERVAL, chats, history, outcome_counts
from tests.integration.dlq.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

REPLY = "Sorry about your order, we are on it."
HOLD = 4.0
CHECK_TIMEOUT = 1.0  # HEALTH_CHECK_TIMEOUT of the drill
# What a loaded 2-core machine adds to one run of the monitor (its checks, its writes).
SLACK = 1.5
HEALTH_TOKEN = "drill-health-token-7d41"


def test_redis_stopped_mid_run_keeps_webhooks_stored_and_every_held_reply_goes_out_once_after_the_hold(stack):
    Trigger.objects.create(name="orders", keywords=["order"], reply_template=REPLY)
    drill = stack(hold=HOLD, HEALTH_TOKEN=HEALTH_TOKEN)
    drill.worker("w1")
    drill.beat()
    drill.monitor()
    before, during, after = chats(0, 5), chats(5, 10), chats(15, 5)
    answers: list[requests.Response] = []

    for chat in before:
        answers.append(drill.customer_writes(chat, "Where is my order?")[1])
    wait_for(lambda: drill.replies_sent(before, REPLY), timeout=60, what="the replies before the outage")

    stopped_at = time.time()
    drill.redis.stop()
    delivered_twice = []
    for chat in during:
        body, answer = drill.customer_writes(chat, "My order is late")
        answers.append(answer)
        delivered_twice.append(body)
        time.sleep(0.3)
    duplicates = [drill.webhook(body) for body in delivered_twice[:3]]  # Green API delivers at least once
    raised = drill.wait_for_level(3, timeout=30)
    health = drill.web.get("/health/detailed", headers={"Authorization": f"Bearer {HEALTH_TOKEN}"})
    restarting_at = time.time()
    drill.redis.start()
    back_at = time.time()
    for chat in after:
        answers.append(drill.customer_writes(chat, "Any news on my order?")[1])

    everyone = before + during + after
    wait_for(lambda: drill.replies_sent(everyone, REPLY), timeout=120, what=f"every reply\n{drill.logs()}")
    lowered = drill.wait_for_level(0, timeout=5)

    # Every webhook was answered 200 and stored once; a redelivery was answered as a duplicate.
    assert [a.status_code for a in answers + duplicates] == [200] * (len(answers) + len(duplicates))
    assert [a.json()["status"] for a in answers] == ["stored"] * len(everyone)
    assert [a.json()["status"] for a in duplicates] == ["duplicate"] * 3
    # ... at once: a publish to a dead broker fails fast instead of retrying its connection for seconds.
    slowest = max(a.elapsed.total_seconds() for a in answers + duplicates)
    assert slowest < 3.0, slowest
    incoming = WebhookEvent.objects.filter(type_webhook="incomingMessageReceived")
    assert sorted(incoming.values_list("chat_id", flat=True)) == sorted(everyone)
    # The breakers went on working, on this process's state, while Redis was down.
    assert "api_webhooks" in health.json()["fallbacks"]["circuit_breakers_on_local_state"]

    # The level rose within one monitor interval and stepped down only after the hold.
    assert history() == [(0, 3, "auto"), (3, 0, "auto")]
    assert raised.reason == "redis_down"
    assert raised.created_at.timestamp() - stopped_at < MONITOR_INTERVAL + CHECK_TIMEOUT + SLACK
    assert lowered.created_at.timestamp() - back_at >= HOLD - 0.5
    assert lowered.created_at.timestamp() - restarting_at < HOLD + MONITOR_INTERVAL + CHECK_TIMEOUT + SLACK

    # Nothing was lost and nothing sent twice; no reply left while the level was severe.
    assert [drill.green.sent_count(chat, REPLY) for chat in everyone] == [1] * len(everyone)
    assert drill.green.duplicates() == 0
    wait_for(lambda: outcome_counts().get("in:processed") == len(everyone), timeout=30, what="every event processed")
    late = OutboundMessage.objects.filter(chat_id__in=during + after)
    assert late.count() == len(during + after)
    assert all(row.sending_at >= lowered.created_at for row in late), "sent while outbound sending was off"
