"""Dead letter services: add, replay (one, a batch, a bulk selection), discard, resolve, clean up.

Everything that writes a dead letter goes through here; the admin, the ops API, the
``dlq`` command and the Celery tasks are doors onto these functions. What is stored is
redacted first (payload, error message, traceback, history) with ``reliability.redaction``.

What happens after a failure is decided by ``reliability.dlq.strategies.recovery_plan``.

The seed's API sits on top: ``dlq_handler`` (``add_to_dlq``, ``get_dlq_messages``,
``retry_message``, ``process_dlq_batch``) and ``get_failed_message_processor()``.

One concept per module, each importing only the ones listed before it:

- ``capture``: ``dead_letter_add`` (redaction, dedupe by ``dedupe_key``, first error).
- ``replay``: ``dead_letter_replay`` (one, now), ``dead_letter_replay_batch`` (claimed
  due letters) and ``dead_letter_replay_due`` (batches under one deadline): leases, lost
  claims, recording outcomes, rate limiting, time limits.
- ``bulk``: ``BulkResult`` on a snapshot of ids and ``dead_letter_replay_many``.
- ``settle``: ``dead_letter_discard``, ``dead_letter_resolve``, ``dead_letter_cleanup``.
- ``seed_api``: ``dlq_handler`` and ``get_failed_message_processor()``.
"""

from __future__ import annotations

from reliability.dlq.services.bulk import BulkResult, dead_letter_replay_many
from reliability.dlq.services.capture import dead_letter_add
from reliability.dlq.services.replay import dead_letter_replay, dead_letter_replay_batch, dead_letter_replay_due
from reliability.dlq.services.seed_api import dlq_handler, get_failed_message_processor
from reliability.dlq.services.settle import dead_letter_cleanup, dead_letter_discard, dead_letter_resolve

__all__ = [
    "BulkResult",
    "dead_letter_add",
    "dead_letter_cleanup",
    "dead_letter_discard",
    "dead_letter_replay",
    "dead_letter_replay_batch",
    "dead_letter_replay_due",
    "dead_letter_replay_many",
    "dead_letter_resolve",
    "dlq_handler",
    "get_failed_message_processor",
]
