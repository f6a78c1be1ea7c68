"""Errors the dead letter services raise, so every door can map them to one answer.

The admin, the ops API and the ``dlq`` command translate these: ``DeadLetterNotFound``
and ``FingerprintNotFound`` are a 404 / exit 2, ``DeadLetterStateError`` a 409 / exit 1,
a missing reason (``ValueError``), ``FingerprintPrefixInvalid`` and
``FingerprintAmbiguous`` a 400 / exit 2.
"""

from __future__ import annotations

from collections.abc import Iterable


class DeadLetterError(Exception):
    """Base class for dead letter errors."""


class DeadLetterNotFound(DeadLetterError, LookupError):
    """One or more letter ids do not exist; ``letter_ids`` names them."""

    def __init__(self, letter_ids: int | str | Iterable[int]) -> None:
        ids = [letter_ids] if isinstance(letter_ids, int | str) else sorted(letter_ids)
        self.letter_ids = ids
        label = "dead letter" if len(ids) == 1 else "dead letters"
        super().__init__(f"{label} not found: {', '.join(f'#{i}' for i in ids)}")


class DeadLetterStateError(DeadLetterError):
    """The letter's status forbids the action (replaying a resolved letter, discarding one mid-replay)."""

    def __init__(self, letter_id: int, status: str, action: str) -> None:
        self.letter_id = letter_id
        self.status = status
        super().__init__(f"dead letter #{letter_id} is {status}: cannot {action} it")


class NoHandlerRegistered(DeadLetterError, LookupError):
    """No handler knows how to replay this ``message_type`` in this process."""

    def __init__(self, message_type: str) -> None:
        self.message_type = message_type
        super().__init__(f"no dead letter handler registered for message type {message_type!r}")


class FingerprintPrefixInvalid(DeadLetterError, ValueError):
    """Not something a fingerprint can start with: too short to be unique, or not hexadecimal."""

    def __init__(self, prefix: str, *, minimum: int) -> None:
        self.prefix = prefix
        super().__init__(f"a fingerprint prefix is {minimum} to 64 hexadecimal characters, not {prefix!r}")


class FingerprintNotFound(DeadLetterError, LookupError):
    """No dead letter has a fingerprint starting with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        super().__init__(f"no dead letter has a fingerprint starting with {prefix}")


class FingerprintAmbiguous(DeadLetterError, ValueError):
    """Several fingerprints start with ``prefix``; ``candidates`` are ``(short form, letters)``."""

    def __init__(self, prefix: str, candidates: list[tuple[str, int]], *, more: bool) -> None:
        self.prefix = prefix
        self.candidates = candidates
        listed = ", ".join(f"{short} ({count} letter{'s' if count != 1 else ''})" for short, count in candidates)
        super().__init__(
            f"fingerprint prefix {prefix} is ambiguous: {listed}{', and more' if more else ''}; give more characters"
        )
