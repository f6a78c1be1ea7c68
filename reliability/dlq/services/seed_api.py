"""The seed's API: ``dlq_handler`` and ``get_failed_message_processor()`` over the services."""

from __future__ import annotations

from typing import Any

from reliability.dlq.selectors import dead_letter_get
from reliability.dlq.services.capture import dead_letter_add
from reliability.dlq.services.replay import SYSTEM, dead_letter_replay, dead_letter_replay_batch


class DeadLetterQueueHandler:
    """The seed's ``dlq_handler``: a thin, synchronous face over the services."""

    def add_to_dlq(
        self,
        message_data: Any,
        error: BaseException,
        message_type: str,
        max_retries: int = 5,
        source: str = "",
    ) -> int:
        """Store a failed message; returns the letter's id."""
        return dead_letter_add(
            message_type=message_type, payload=message_data, error=error, source=source, max_retries=max_retries
        ).pk

    def get_dlq_messages(
        self, limit: int = 100, status: str | None = None, message_type: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest letters as dicts, optionally by status and type."""
        from reliability.dlq.selectors import dead_letter_list, dead_letter_to_dict

        letters = dead_letter_list(status=status, message_type=message_type).select_related("settled_by")[:limit]
        return [dead_letter_to_dict(letter) for letter in letters]

    def get_dlq_message(self, message_id: int) -> dict[str, Any]:
        from reliability.dlq.selectors import dead_letter_to_dict

        return dead_letter_to_dict(dead_letter_get(letter_id=message_id), with_history=True)

    def retry_message(self, message_id: int, actor: Any = None, channel: str = SYSTEM) -> bool:
        """Replay one letter now; True when it was resolved."""
        return dead_letter_replay(letter_id=message_id, actor=actor, channel=channel).resolved

    def process_dlq_batch(self, batch_size: int = 10) -> dict[str, int]:
        """Replay one batch of due letters with the recovery strategies."""
        return dead_letter_replay_batch(batch_size=batch_size)


class FailedMessageProcessor:
    """The seed's strategy processor: the same claim-and-replay, strategies by failure kind."""

    def process_dlq_with_strategies(self, batch_size: int = 20, message_type: str | None = None) -> dict[str, int]:
        return dead_letter_replay_batch(batch_size=batch_size, message_type=message_type)


dlq_handler = DeadLetterQueueHandler()
_processor = FailedMessageProcessor()


def get_failed_message_processor() -> FailedMessageProcessor:
    return _processor
