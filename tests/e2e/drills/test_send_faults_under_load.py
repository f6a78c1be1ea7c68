"""1,000 webhooks at concurrency 20 while Green API fails 30 % of sends, then is down for 10 s.

Everything is real: gunicorn answers the webhooks, prefork Celery workers run the
pipeline on PostgreSQL and Redis, the Green API stand-in fails sends and goes down on
its own, and a dead letter replay goes through ``manage.py dlq replay`` as an operator's
would. What must hold: every event stored once; every triggered reply accepted by Green
API exactly once, or failed with its reason in the dead letter queue; the replay once
Green API is healthy again delivers the rest; no duplicate at the stand-in.

Green API's status webhooks are switched off here (its echo of each send stays on): they
would triple the webhooks without bearing on what is checked; the lost-answer drill
follows every reply to ``delivered``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest
from celery import current_app
from django.conf import settings

from messaging.models import OutboundMessage, ProcessingStatus, Trigger, WebhookEvent
from messaging.models import OutboundStatus as S
from reliability.breaker.selectors import breaker_snapshot
from reliability.breaker.services import breaker_update_config
from reliability.dlq.models import DeadLetter, DeadLetterStatus
from tests.integration.dlq.conftest import wait_for
from tests.integration.webhook import bodies
from tests.webhook_load import webhooks_post

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WEBHOOKS = 1_000
UNIQUE = 850  # the other 150 deliveries are redeliveries of these, as Green API makes
CONCURRENCY = 20
OUTAGE_AT = 700  # the outage begins as this webhook is sent, and lasts OUTAGE_SECONDS
OUTAGE_SECONDS = 10
MAX_OPEN_SECONDS = 2.0
TEMPLATE = "Sorry {sender_name}, we are looking into your order."
SETTLED = (S.SENT, S.DELIVERED, S.READ)


def chat(n: int) -> str:
    return f"7901{n:07d}@c.us"


def events() -> tuple[list[dict], set[str]]:
    """Webhook bodies (each message once, plus redeliveries) and the chats whose message triggers a reply."""
    unique, triggering = [], set()
    for n in range(UNIQUE):
        asks = n % 3 != 2  # two in three ask about their order
        text = f"Where is my order {n}?" if asks else f"Thanks, all good {n}"
        unique.append(bodies.incoming_text(text, chat_id=chat(n), id_message=f"LOAD{n:012d}", sender_name=f"C{n}"))
        if asks:
            triggering.add(chat(n))
    rng = random.Random(8)
    deliveries = list(unique)
    for original in rng.sample(range(UNIQUE), WEBHOOKS - UNIQUE):
        # Some copies go right next to the original (in flight together), the rest later.
        deliveries.insert(min(len(deliveries), original + rng.choice((0, 1, 2, 400))), unique[original])
    return deliveries, triggering


def reply_text(row: OutboundMessage) -> str:
    return TEMPLATE.format(sender_name=f"C{int(row.chat_id[4:11])}")


def test_thirty_percent_failures_then_an_outage_lose_and_duplicate_nothing(stack):
    system = stack(error_rate=0.3, seed=7, methods=["sendMessage"], green_settings={"outgoingWebhook": "no"})
    green = system.green
    Trigger.objects.create(name="orders", keywords=["order"], reply_template=TEMPLATE)
    # The testing profile opens for 1 s instead of 60; its longest open time, 10 min by
    # default, shrinks in proportion (as an operator would set it in the admin).
    breaker_update_config(
        name="green_api", changes={"max_recovery_timeout": MAX_OPEN_SECONDS}, actor=None, channel="cli", reason="drill"
    )
    system.worker("load-a", concurrency=3)
    system.worker("load-b", concurrency=3)
    deliveries, triggering = events()
    outage_over = threading.Event()

    def outage(index: int) -> None:
        if index == OUTAGE_AT:
            green.control(outage=True)
            threading.Timer(OUTAGE_SECONDS, lambda: (green.control(outage=False), outage_over.set())).start()

    started = time.monotonic()
    answers = webhooks_post(
        system.web.url, settings.GREEN_API_WEBHOOK_TOKEN, deliveries, concurrency=CONCURRENCY, before_each=outage
    )
    load_seconds = time.monotonic() - started

    # Every delivery answered 200, each message stored once and processed once.
    assert {answer.status for answer in answers} == {200}, [a for a in answers if a.status != 200][:5]
    outcomes = [answer.outcome for answer in answers]
    assert (outcomes.count("stored"), outcomes.count("duplicate")) == (UNIQUE, WEBHOOKS - UNIQUE)
    assert outage_over.wait(OUTAGE_SECONDS + 5)
    unsent_after_outage = len(triggering) - green.stats()["sends"].get("accepted", 0)

    def settled_or_failed() -> bool:
        current_app.send_task("messaging.sweep_outbox")  # the beat's job, every minute in production
        rows = OutboundMessage.objects.all()
        return (
            rows.count() == len(triggering)
            and not rows.exclude(status__in=(*SETTLED, S.FAILED)).exists()
            and DeadLetter.objects.count() == rows.filter(status=S.FAILED).count()
        )

    try:
        wait_for(settled_or_failed, timeout=90, interval=1.0, what="every reply sent or failed into the DLQ")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; rows by status: {status_counts()}; {stuck_rows()}") from None
    settled_seconds = time.monotonic() - started
    incoming = WebhookEvent.objects.filter(type_webhook="incomingMessageReceived")
    assert incoming.count() == UNIQUE
    unprocessed = incoming.exclude(processing_status=ProcessingStatus.PROCESSED)
    assert not unprocessed.exists(), list(unprocessed.values_list("id", "processing_status", "processing_error")[:5])
    assert {row.chat_id for row in OutboundMessage.objects.all()} == triggering

    # Before the replay: each reply accepted once by Green API, or failed with a dead letter that says why.
    failed = list(OutboundMessage.objects.filter(status=S.FAILED))
    letters = {letter.payload["args"][0]: letter for letter in DeadLetter.objects.all()}
    for row in OutboundMessage.objects.all():
        expected = 0 if row.status == S.FAILED else 1
        assert green.sent_count(row.chat_id, reply_text(row)) == expected, (row.pk, row.status, row.last_error)
    assert failed, "30 % failures over three attempts leave some replies to the dead letter queue"
    assert sorted(letters) == sorted(row.pk for row in failed)
    for row in failed:
        letter = letters[row.pk]
        assert (letter.message_type, letter.status) == ("whatsapp_message", DeadLetterStatus.PENDING), letter
        assert letter.error_class.endswith(".UpstreamUnavailable") and letter.error_message, letter
        assert row.last_error.startswith("not sent after 3 attempts; in the dead letter queue"), row.last_error
    assert unsent_after_outage > 0, "the outage caught replies that still had to be sent"

    # Green API is healthy again and the operator replays the dead letters: the rest is delivered.
    # (A replay while the breaker is still open would be deferred, attempts kept: the operator
    # checks `breakers list` first.)
    green.control(error_rate=0.0)
    wait_for(
        lambda: not breaker_snapshot(name="green_api")["retry_after"],
        timeout=MAX_OPEN_SECONDS + 5,
        what="the green_api breaker to admit calls",
    )
    replay = system.command("dlq", "replay", "--type", "whatsapp_message")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    wait_for(
        lambda: OutboundMessage.objects.filter(status__in=SETTLED).count() == len(triggering),
        timeout=30,
        what="every reply sent after the replay",
    )
    unresolved = DeadLetter.objects.exclude(status=DeadLetterStatus.RESOLVED)
    assert not unresolved.exists(), list(unresolved.values_list("id", "status", "error_message")[:5])
    for row in OutboundMessage.objects.all():
        assert green.sent_count(row.chat_id, reply_text(row)) == 1, row.pk
    assert green.duplicates() == 0, green.stats()["duplicates"]
    print(
        f"\ndrill: {WEBHOOKS} webhooks in {load_seconds:.1f} s; all settled or dead-lettered "
        f"{settled_seconds:.1f} s after the start; {len(failed)} of {len(triggering)} replies "
        f"replayed from the DLQ; {unsent_after_outage} unsent when the outage ended"
    )


def status_counts() -> dict[str, int]:
    return dict(Counter(OutboundMessage.objects.values_list("status", flat=True)))


def stuck_rows() -> list[tuple]:
    rows = OutboundMessage.objects.exclude(status__in=(*SETTLED, S.FAILED)).order_by("id")[:5]
    return [(r.pk, r.status, r.attempts, r.next_attempt_at, r.last_error[:200]) for r in rows]
