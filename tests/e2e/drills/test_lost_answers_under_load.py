"""Green API accepts 10 % of the sends but the answer is lost: every reply delivered once all the same.

The stand-in does the send (journals it, counts it, sends its webhooks) and then either
closes the connection without an answer or answers after our read timeout. Our side
cannot know whether the message left, so the row becomes ``unknown`` and must be settled
from Green API's echo (``outgoingAPIMessageReceived``) or journal, never sent again blindly.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from celery import current_app
from django.conf import settings

from messaging.models import OutboundMessage, Trigger
from messaging.models import OutboundStatus as S
from tests.integration.dlq.conftest import wait_for
from tests.integration.webhook import bodies
from tests.webhook_load import webhooks_post

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MESSAGES = 150
LOST_RATE = 0.1
TEMPLATE = "Hello {sender_name}, your order is on its way."


def chat(n: int) -> str:
    return f"7902{n:07d}@c.us"


@pytest.mark.parametrize("mode", ["close", "late"])
def test_lost_answers_are_settled_and_every_reply_is_delivered_once(stack, mode):
    system = stack(
        lost_reply_rate=LOST_RATE, lost_reply_mode=mode, late_reply_ms=1500, seed=11, methods=["sendMessage"]
    )
    green = system.green
    Trigger.objects.create(name="orders", keywords=["order"], reply_template=TEMPLATE)
    system.worker("lossy-a", concurrency=3)
    system.worker("lossy-b", concurrency=3)
    messages = [
        bodies.incoming_text(f"my order {n}?", chat_id=chat(n), id_message=f"LOST{n:012d}", sender_name=f"C{n}")
        for n in range(MESSAGES)
    ]
    started = time.monotonic()
    answers = webhooks_post(system.web.url, settings.GREEN_API_WEBHOOK_TOKEN, messages, concurrency=10)
    assert [answer.status for answer in answers] == [200] * MESSAGES

    def all_delivered() -> bool:
        current_app.send_task("messaging.sweep_outbox")  # the beat's job, every minute in production
        return OutboundMessage.objects.filter(status__in=(S.DELIVERED, S.READ)).count() == MESSAGES

    try:
        wait_for(all_delivered, timeout=90, interval=1.0, what="every reply delivered")
    except AssertionError as exc:
        statuses = Counter(OutboundMessage.objects.values_list("status", flat=True))
        raise AssertionError(f"{exc}; rows by status: {dict(statuses)}") from None
    elapsed = time.monotonic() - started
    lost = green.stats()["requests"]["sendMessage"].get(f"lost_{mode}", 0)
    assert lost >= 5, "answers were lost (about one in ten)"
    assert green.duplicates() == 0
    for n in range(MESSAGES):
        assert green.sent_count(chat(n), TEMPLATE.format(sender_name=f"C{n}")) == 1, n
    # Nothing was sent a second time: each row made one attempt, the lost ones were settled.
    assert set(OutboundMessage.objects.values_list("attempts", flat=True)) == {1}
    print(f"\ndrill ({mode}): {MESSAGES} replies, {lost} answers lost, all delivered in {elapsed:.1f} s")
