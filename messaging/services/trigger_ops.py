"""What people do to triggers through the API: create, change, and run one by hand.

Saving goes through the model's ``full_clean`` (field limits, ``trigger_validate`` and
the unique name), the same path the admin's form takes, so both doors refuse the same
things with the same messages.

``trigger_execute`` sends a trigger's reply to a chat now: the template is rendered with
the values given, the firing is recorded under the trigger's cooldown (unless forced) and
the reply is written to the outbox in one transaction; it is sent after commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from messaging.clients.errors import InvalidRequest
from messaging.clients.validation import message_text_validate
from messaging.models import OutboundMessage, Trigger, TriggerFiring
from messaging.services.outbound_ops import IdempotencyConflict, outbound_by_idempotency_key
from messaging.services.outbox import outbound_create
from messaging.services.triggers import trigger_claim_cooldown, trigger_render

EDITABLE_FIELDS = (
    "name",
    "enabled",
    "keywords",
    "regex",
    "sentiment_labels",
    "chat_ids",
    "reply_template",
    "cooldown_seconds",
    "priority",
)


def _save(trigger: Trigger) -> Trigger:
    trigger.full_clean()
    try:
        with transaction.atomic():
            trigger.save()
    except IntegrityError:
        # Two requests creating the same name at once: full_clean saw neither.
        raise ValidationError({"name": ["a trigger with this name already exists"]}) from None
    return trigger


def trigger_create(*, values: dict[str, Any]) -> Trigger:
    """A new trigger from ``values`` (fields of ``EDITABLE_FIELDS``); ``ValidationError`` by field."""
    return _save(Trigger(**{name: values[name] for name in EDITABLE_FIELDS if name in values}))


def trigger_update(*, trigger: Trigger, changes: dict[str, Any]) -> Trigger:
    """``trigger`` with ``changes`` applied and validated together with what it already holds."""
    for name in EDITABLE_FIELDS:
        if name in changes:
            setattr(trigger, name, changes[name])
    return _save(trigger)


class TriggerRefused(Exception):
    """The trigger may not fire now; ``reason`` is ``disabled`` or ``cooldown``."""

    def __init__(self, reason: str, message: str, *, next_allowed_at: datetime | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.next_allowed_at = next_allowed_at


def trigger_execute(
    *,
    trigger_id: int,
    chat_id: str,
    text: str = "",
    sender_name: str = "",
    sentiment: str = "",
    force: bool = False,
    idempotency_key: str = "",
) -> OutboundMessage:
    """Queue ``trigger``'s reply to ``chat_id``, rendered with the sample values given.

    Refused (``TriggerRefused``) when the trigger is disabled, or fired for this chat
    within its cooldown and ``force`` is not set. The trigger's conditions (keywords,
    regex, sentiment, chat filter) are not evaluated: a person asked for this reply.
    ``ValidationError`` when the rendered reply is not a sendable text. A repeated
    ``idempotency_key`` returns the first request's row and fires nothing
    (``IdempotencyConflict`` when that row is for another trigger or chat).
    """

    def earlier() -> OutboundMessage | None:
        row = outbound_by_idempotency_key(key=idempotency_key) if idempotency_key else None
        if row is not None and (row.trigger_id != trigger_id or row.chat_id != chat_id):
            raise IdempotencyConflict("this Idempotency-Key was used for another trigger or chat")
        return row

    if (row := earlier()) is not None:
        return row
    with transaction.atomic():
        # Locked: a concurrent edit (disable) is seen before the firing, and two requests with
        # the same key run one after the other, so the second finds the first's row here.
        trigger = Trigger.objects.select_for_update().get(pk=trigger_id)
        if (row := earlier()) is not None:
            return row
        if not trigger.enabled:
            raise TriggerRefused("disabled", f"trigger {trigger.name!r} is disabled")
        values = {"sender_name": sender_name, "text": text, "chat_id": chat_id, "sentiment": sentiment}
        reply = trigger_render(template=trigger.reply_template, values=values)
        try:
            message_text_validate(reply, field="reply")
        except InvalidRequest as exc:
            raise ValidationError({"reply": [f"the rendered reply {exc.description}"]}) from None
        now = timezone.now()
        if force:
            TriggerFiring.objects.create(trigger=trigger, chat_id=chat_id, fired_at=now)
        elif not trigger_claim_cooldown(trigger=trigger, chat_id=chat_id, inbound=None, now=now):
            last = TriggerFiring.objects.filter(trigger=trigger, chat_id=chat_id).order_by("-fired_at").first()
            next_allowed = last.fired_at + timedelta(seconds=trigger.cooldown_seconds) if last else None
            raise TriggerRefused(
                "cooldown",
                f"trigger {trigger.name!r} replied to {chat_id} less than {trigger.cooldown_seconds} s ago; "
                "pass force=true to send anyway",
                next_allowed_at=next_allowed,
            )
        return outbound_create(chat_id=chat_id, text=reply, trigger=trigger, idempotency_key=idempotency_key)
