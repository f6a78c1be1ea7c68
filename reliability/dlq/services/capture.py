"""Capturing a failed message as a dead letter: redacted, deduplicated, its first failure kept.

What is stored is redacted first (payload, error message, traceback, history) with
``reliability.redaction``. The trace and message limits and ``_traceback_text`` live here
and are shared with ``replay``, which records later failures the same way.
"""

from __future__ import annotations

import json
import traceback as traceback_module
from datetime import datetime
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from reliability.dlq.classify import Failure, classify_failure, failure_fingerprint
from reliability.dlq.metrics import dlq_messages_added
from reliability.dlq.models import DeadLetter, DeadLetterAttempt
from reliability.dlq.strategies import RecoveryPlan, recovery_plan
from reliability.redaction import redact, redact_text

log = structlog.get_logger(__name__)

_TRACEBACK_LIMIT = 20_000
_MESSAGE_LIMIT = 4_000


def _traceback_text(error: BaseException) -> str:
    return "".join(traceback_module.format_exception(type(error), error, error.__traceback__))


def _json_safe(value: Any) -> Any:
    # A payload that cannot be stored must not cost us the letter: unknown types become
    # text, redacted as well (an object's str() can hold a Green API URL).
    return json.loads(json.dumps(redact(value), default=lambda obj: redact_text(str(obj))))


def dead_letter_add(
    *,
    message_type: str,
    payload: Any,
    error: BaseException,
    source: str = "",
    max_retries: int = 5,
    traceback_text: str | None = None,
    dedupe_key: str = "",
) -> DeadLetter:
    """Store a message that failed after its retries, redacted, with its first failure kept.

    The failure is classified at once: a permanent one is ``exhausted`` (no replay can
    help), any other is ``pending`` with ``next_retry_at`` from its recovery strategy.
    A ``dedupe_key`` already stored (the same task redelivered and failing again) adds
    to that letter's history and returns it: one failed message, one letter to replay.
    """
    if not message_type:
        raise ValueError("message_type is required")
    if max_retries < 0:
        raise ValueError("max_retries must be zero or more")
    now = timezone.now()
    failure = classify_failure(error)
    trace = redact_text(traceback_text if traceback_text is not None else _traceback_text(error))[-_TRACEBACK_LIMIT:]
    message = failure.message[:_MESSAGE_LIMIT]
    plan = recovery_plan(failure=failure, attempts=0, max_retries=max_retries, now=now)
    if dedupe_key:
        existing = _add_to_existing(dedupe_key=dedupe_key, failure=failure, message=message)
        if existing is not None:
            return existing
    try:
        letter = _create_letter(
            message_type=message_type,
            payload=payload,
            source=source,
            failure=failure,
            message=message,
            trace=trace,
            plan=plan,
            max_retries=max_retries,
            dedupe_key=dedupe_key,
            now=now,
        )
    except IntegrityError:
        # A concurrent capture of the same work won the insert.
        existing = _add_to_existing(dedupe_key=dedupe_key, failure=failure, message=message)
        if existing is None:
            raise
        return existing
    dlq_messages_added.labels(message_type=message_type).inc()
    log.warning(
        "dead_letter_added",
        letter_id=letter.pk,
        message_type=message_type,
        source=letter.source,
        error_class=failure.error_class,
        failure_kind=failure.kind.value,
        status=plan.status,
    )
    return letter


def _add_to_existing(*, dedupe_key: str, failure: Failure, message: str) -> DeadLetter | None:
    letter = DeadLetter.objects.filter(dedupe_key=dedupe_key).first()
    if letter is None:
        return None
    DeadLetterAttempt.objects.create(
        letter=letter,
        error_class=failure.error_class[:200],
        reason=f"captured again (redelivered): {message}",
        failure_kind=failure.kind,
        outcome=DeadLetterAttempt.Outcome.FAILED,
    )
    log.warning("dead_letter_capture_repeated", letter_id=letter.pk, dedupe_key=dedupe_key)
    return letter


def _create_letter(
    *,
    message_type: str,
    payload: Any,
    source: str,
    failure: Failure,
    message: str,
    trace: str,
    plan: RecoveryPlan,
    max_retries: int,
    dedupe_key: str,
    now: datetime,
) -> DeadLetter:
    with transaction.atomic():
        letter = DeadLetter.objects.create(
            dedupe_key=dedupe_key[:255],
            message_type=message_type,
            payload=_json_safe(payload),
            source=redact_text(source)[:200],
            error_class=failure.error_class[:200],
            error_message=message,
            traceback=trace,
            fingerprint=failure_fingerprint(
                message_type=message_type, error_class=failure.error_class, message=message
            ),
            failure_kind=failure.kind,
            breaker_name=failure.breaker_name[:64],
            first_error={
                "error_class": failure.error_class,
                "message": message,
                "traceback": trace,
                "failure_kind": failure.kind.value,
                "http_status": failure.http_status,
                "at": now.isoformat(),
            },
            status=plan.status,
            attempts=0,
            max_retries=max_retries,
            next_retry_at=plan.next_retry_at,
        )
        DeadLetterAttempt.objects.create(
            letter=letter,
            error_class=failure.error_class[:200],
            reason=message,
            failure_kind=failure.kind,
            outcome=plan.outcome,
        )
    return letter
