"""Dead letter handlers of messaging, registered by message type from ``MessagingConfig.ready``.

``reliability`` never imports ``messaging``; it finds these through its registry. The
payload is the one ``ReliableTask`` stores: ``{"task", "task_id", "args", "kwargs"}``
with the row id as the first argument (the sweeper's own letters use the same shape).
"""

from __future__ import annotations

from typing import Any

from messaging.services.outbox import outbound_replay
from messaging.services.pipeline import webhook_event_process
from messaging.tasks import INBOUND_MESSAGE_TYPE, OUTBOUND_MESSAGE_TYPE
from reliability.dlq.registry import register_handler


def _row_id(payload: dict[str, Any]) -> int:
    args = payload.get("args") if isinstance(payload, dict) else None
    if not isinstance(args, list) or not args or isinstance(args[0], bool) or not isinstance(args[0], int):
        raise ValueError(f"dead letter payload has no row id in args: {payload!r}"[:300])
    return args[0]


def replay_outbound_message(payload: dict[str, Any]) -> str:
    """Send the outbox row again through the same claim: a row already sent is left alone.

    Not sent this time (transient, breaker open, rejected): the row rests in ``failed``
    and the error is raised, so the letter's recovery strategy applies.
    """
    attempt = outbound_replay(outbound_id=_row_id(payload))
    if attempt.error is not None and attempt.outcome not in ("sent", "skipped", "unknown"):
        raise attempt.error
    return attempt.outcome


def replay_inbound_processing(payload: dict[str, Any]) -> str:
    """Process the stored event again (a processed one is skipped)."""
    return webhook_event_process(event_id=_row_id(payload))


def register_dead_letter_handlers() -> None:
    register_handler(OUTBOUND_MESSAGE_TYPE, replay_outbound_message)
    register_handler(INBOUND_MESSAGE_TYPE, replay_inbound_processing)
