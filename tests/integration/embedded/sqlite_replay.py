"""Run inside ``manage.py shell`` on the embedded SQLite default: add, fail, replay letters."""

import json
from datetime import timedelta

from django.utils import timezone

from reliability.dlq.models import DeadLetter
from reliability.dlq.registry import register_handler
from reliability.dlq.services import dead_letter_add, dead_letter_replay_batch
from reliability.errors import TransientError

handled = []
register_handler("embedded_test", lambda payload: handled.append(payload["n"]))
for n in range(30):
    dead_letter_add(message_type="embedded_test", payload={"n": n}, error=TransientError("Green API timed out"))
DeadLetter.objects.update(next_retry_at=timezone.now() - timedelta(seconds=1))
stats = dead_letter_replay_batch(batch_size=50, rate=1000)
print(
    json.dumps(
        {
            "handled": sorted(handled),
            "stats": stats,
            "statuses": sorted(set(DeadLetter.objects.values_list("status", flat=True))),
        }
    )
)
