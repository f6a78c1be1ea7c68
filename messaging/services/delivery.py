"""Delivery statuses: Green API's ``outgoingMessageStatus`` applied to outbox rows, forward only.

A status may arrive before the send's answer told us the row's idMessage; it is stored
with its webhook event and applied by ``outbound_apply_stored_statuses`` once the row
knows its idMessage (the outbox after a send, reconciliation after it settles a row).
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from messaging import metrics
from messaging.models import OutboundMessage, OutboundStatus, WebhookEvent, WebhookType
from messaging.models.outbound import LAST_ERROR_CHARS
from reliability.redaction import redact_text

S = OutboundStatus
# How far a status may move forward; a status webhook never moves a row back.
_RANK = {S.QUEUED: 0, S.SENDING: 1, S.UNKNOWN: 1, S.SENT: 2, S.DELIVERED: 3, S.READ: 4}
# Green API's outgoingMessageStatus values and the outbox status each one means.
DELIVERY_STATUSES = {
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "read": S.READ,
    "failed": S.FAILED,
    "noAccount": S.FAILED,
    "notInGroup": S.FAILED,
    "yellowCard": S.FAILED,
}


def outbound_status_apply(
    *, chat_id: str, id_message: str, status: str, description: str = "", at: datetime | None = None
) -> str:
    """Apply one outgoingMessageStatus to the row with this (chat, idMessage); forward only.

    Returns the row's outcome: ``applied``, ``no_row`` (a status for a message we do not
    know, or not yet: the outbox applies stored statuses once the send is answered),
    ``not_forward`` or ``ignored`` (a status value we do not act on).
    """
    target = DELIVERY_STATUSES.get(status)
    if target is None:
        return "ignored"
    row = OutboundMessage.objects.filter(chat_id=chat_id, id_message=id_message).only("id", "status").first()
    if row is None:
        return "no_row"
    now = timezone.now()
    when = at or now
    if target == S.FAILED:
        allowed = (S.SENDING, S.UNKNOWN, S.SENT)
        reason = f"Green API status {status}" + (f": {description}" if description else "")
        fields = {"failed_at": when, "last_error": redact_text(reason)[:LAST_ERROR_CHARS]}
    else:
        allowed = tuple(s for s, rank in _RANK.items() if rank < _RANK[target])
        fields = {f"{target}_at": when} if target != S.SENT else {"sent_at": when}
    moved = OutboundMessage.objects.filter(pk=row.pk, status__in=allowed).update(
        status=target, updated_at=now, **fields
    )
    if not moved:
        return "not_forward"
    metrics.outbound_transition(row.status, target)
    return "applied"


def outbound_apply_stored_statuses(*, outbound_id: int) -> int:
    """Apply the status webhooks stored for this row's idMessage before the row knew it."""
    row = OutboundMessage.objects.filter(pk=outbound_id).only("chat_id", "id_message").first()
    if row is None or not row.id_message:
        return 0
    events = WebhookEvent.objects.filter(
        type_webhook=WebhookType.OUTGOING_MESSAGE_STATUS, chat_id=row.chat_id, id_message=row.id_message
    ).only("message_status", "payload", "occurred_at")
    ordered = sorted(events, key=lambda event: _RANK.get(DELIVERY_STATUSES.get(event.message_status), 5))
    applied = 0
    for event in ordered:
        description = event.payload.get("description") if isinstance(event.payload, dict) else ""
        outcome = outbound_status_apply(
            chat_id=row.chat_id,
            id_message=row.id_message,
            status=event.message_status,
            description=description if isinstance(description, str) else "",
            at=event.occurred_at,
        )
        applied += outcome == "applied"
    return applied
