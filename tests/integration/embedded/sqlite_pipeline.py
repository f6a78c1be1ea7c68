"""Run inside ``manage.py shell`` on the embedded SQLite default: the sample conversation, end to end.

Each message is stored through the webhook's ingest (twice: the second is a duplicate),
processed, and its reply sent to the Green API stand-in named by GREEN_API_URL.
"""

import json
import time

from django.conf import settings
from django.core.management import call_command

from messaging.models import OutboundMessage, WebhookEvent
from messaging.services.ingest import webhook_event_ingest
from messaging.services.outbox import outbound_send
from messaging.services.pipeline import webhook_event_process
from sandbox.play import CONVERSATION

call_command("create_demo_triggers")
outcomes = []
for number, (chat_id, name, text) in enumerate(CONVERSATION):
    body = {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": {"idInstance": int(settings.GREEN_API_ID_INSTANCE), "wid": "79001230000@c.us"},
        "timestamp": int(time.time()),
        "idMessage": f"EMBEDDED{number:04d}",
        "senderData": {"chatId": chat_id, "sender": chat_id, "senderName": name},
        "messageData": {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}},
    }
    first, again = webhook_event_ingest(body=body), webhook_event_ingest(body=body)
    outcomes.append([first.outcome, again.outcome, webhook_event_process(event_id=first.event_id)])
sends = [
    outbound_send(outbound_id=pk).outcome for pk in OutboundMessage.objects.order_by("id").values_list("id", flat=True)
]
print(
    json.dumps(
        {
            "outcomes": outcomes,
            "events": WebhookEvent.objects.count(),
            "sends": sends,
            "replies": list(OutboundMessage.objects.order_by("id").values_list("chat_id", "text", "status")),
        }
    )
)
