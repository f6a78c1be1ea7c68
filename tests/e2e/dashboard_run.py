"""A real run for the dashboard's browser test, in its own process against the server's database.

``python -m tests.e2e.dashboard_run seed``: users, then real traffic through the real
services: webhooks ingested and processed (sentiment from the DeepSeek stand-in, a
trigger's reply sent through the Green API stand-in), breakers that open (green_api on
its failures, deepseek forced by an operator), a degradation override, dead letters.
The rows' times are then spread over the last two hours, so the charts have a past.
``... more``: two more dead letters, for the test to see the page pick them up.
"""

from __future__ import annotations

import datetime as dt
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402

from health.services import health_monitor_run  # noqa: E402
from messaging.models import OutboundMessage, Trigger, WebhookEvent  # noqa: E402
from messaging.services.ingest import webhook_event_ingest  # noqa: E402
from messaging.services.outbox import outbound_send  # noqa: E402
from messaging.services.pipeline import webhook_event_process  # noqa: E402
from reliability.breaker.breaker import get_circuit_breaker  # noqa: E402
from reliability.breaker.models import BreakerTransition, CircuitBreaker  # noqa: E402
from reliability.breaker.services import breaker_force_open  # noqa: E402
from reliability.degradation.services import degradation_set_level  # noqa: E402
from reliability.dlq.services import dead_letter_add  # noqa: E402
from reliability.errors import PermanentError, TransientError  # noqa: E402
from sandbox import DeepSeekStandIn, GreenApiStandIn  # noqa: E402
from tests.integration.webhook import bodies  # noqa: E402

OPERATOR = ("ops", "ops-pass-4d1e")
VIEWER = ("viewer", "viewer-pass-8c2a")
MESSAGES = 12


def _fail() -> None:
    raise TransientError("Green API sendMessage: 503")


def _opened_ago(name: str, *, minutes: int) -> None:
    """Move a breaker's (one) change into the past, in its history and on its row alike."""
    moment = timezone.now() - dt.timedelta(minutes=minutes)
    BreakerTransition.objects.filter(breaker__name=name).update(created_at=moment)
    CircuitBreaker.objects.filter(name=name).update(state_changed_at=moment)


def seed() -> None:
    users = get_user_model().objects
    operator = users.create_superuser(OPERATOR[0], "ops@example.com", OPERATOR[1])
    users.create_user(VIEWER[0], "viewer@example.com", VIEWER[1], is_staff=True)

    now = timezone.now()
    Trigger.objects.create(name="orders", keywords=["order"], reply_template="Sorry {sender_name}, we are on it")
    with GreenApiStandIn() as green, DeepSeekStandIn() as deepseek:
        settings.GREEN_API_URL, settings.DEEPSEEK_BASE_URL = green.url, deepseek.url
        for n in range(MESSAGES):
            body = bodies.incoming_text(f"My order {n} never arrived", chat_id=f"7900555{n:04d}@c.us")
            event_id = webhook_event_ingest(body=body).event_id
            assert webhook_event_process(event_id=event_id) == "replied"
        for row in OutboundMessage.objects.order_by("pk"):
            assert outbound_send(outbound_id=row.pk).outcome == "sent", row
        health_monitor_run()  # what the beat job "Run the health checks" stores each minute
    # Arrivals spread over the last two hours; each reply accepted 1 to 12 s after its message.
    for n, event in enumerate(WebhookEvent.objects.order_by("pk")):
        arrived = now - dt.timedelta(minutes=110 - n * 9)
        WebhookEvent.objects.filter(pk=event.pk).update(received_at=arrived)
        OutboundMessage.objects.filter(inbound=event).update(sent_at=arrived + dt.timedelta(seconds=n + 1))

    breaker = get_circuit_breaker("green_api")
    for _ in range(breaker.config.failure_threshold):
        try:
            breaker.call(_fail)
        except TransientError:
            pass
    _opened_ago("green_api", minutes=40)
    breaker_force_open(name="deepseek", actor=operator, channel="admin", reason="DeepSeek maintenance")
    _opened_ago("deepseek", minutes=75)
    degradation_set_level(
        level="moderate", reason="Green API incident", expires_in=3600, actor=operator, channel="admin"
    )
    for n in range(3):
        dead_letter_add(message_type="whatsapp_message", payload={"args": [n]}, error=TransientError("503"))
    dead_letter_add(message_type="inbound_processing", payload={"args": [99]}, error=PermanentError("bad body"))


def more() -> None:
    for n in range(2):
        dead_letter_add(message_type="whatsapp_message", payload={"args": [100 + n]}, error=TransientError("503"))


if __name__ == "__main__":
    {"seed": seed, "more": more}[sys.argv[1]]()
