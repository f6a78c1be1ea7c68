"""What people do to the outbox: send a message through the API, resend, reconcile.

API clients may name their request with an ``Idempotency-Key``; it becomes the row's
``idempotency_key`` in a namespace of their own (``api:<user id>:<key>``), so a repeated
request finds the row the first one wrote and no client can reach another's rows, or the
pipeline's (``inbound:<id>:trigger:<id>``). The key is bound to what was asked: the same
key with a different chat or text is refused, never answered with the first message.

Operators resend failed rows and reconcile rows of unknown outcome from the admin. Both
act on an explicit list of ids, move rows only through the outbox's own conditional
updates (``outbound_requeue``, ``outbound_mark_lost``, ``outbox_reconcile_unknown``), and
write one audit record per row they acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from messaging.models import OutboundMessage, OutboundStatus
from messaging.selectors import outbound_reconcilable_q
from messaging.services.dispatch import SEND_TASK, task_enqueue
from messaging.services.outbox import outbound_create, outbound_mark_lost, outbound_requeue
from messaging.services.reconcile import outbox_reconcile_unknown
from reliability.audit import audit_record

MAX_IDEMPOTENCY_KEY_CHARS = 200
TARGET_TYPE = "outbound_message"
S = OutboundStatus


class IdempotencyConflict(Exception):
    """The idempotency key was already used for a different request."""


def api_idempotency_key(*, user_id: int, key: str) -> str:
    """The outbox key of an API client's ``key`` ("" when the client sent none)."""
    return f"api:{user_id}:{key}" if key else ""


def outbound_by_idempotency_key(*, key: str) -> OutboundMessage | None:
    return OutboundMessage.objects.filter(idempotency_key=key).first() if key else None


def outbound_request(*, chat_id: str, text: str, idempotency_key: str = "") -> OutboundMessage:
    """Queue ``text`` to ``chat_id`` (already validated); sent after commit.

    With an ``idempotency_key`` used before, the earlier row is returned and nothing is
    queued; ``IdempotencyConflict`` when that row has another chat or text.
    """
    with transaction.atomic():
        row = outbound_create(chat_id=chat_id, text=text, idempotency_key=idempotency_key)
    if row.chat_id != chat_id or row.text != text or row.trigger_id is not None:
        raise IdempotencyConflict("this Idempotency-Key was used for a different message")
    return row


# --- operator actions --------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorOutcome:
    outbound_id: int
    # Whether the action applied to the row (False: skipped, with the reason in ``detail``).
    done: bool
    # The row's status afterwards ("missing" when there is no such row).
    status: str
    detail: str = ""


def _audit(*, outbound_id: int, action: str, actor: Any, channel: str, reason: str, **detail: Any) -> None:
    audit_record(
        actor=actor,
        channel=channel,
        action=f"outbound_message.{action}",
        target_type=TARGET_TYPE,
        target_id=outbound_id,
        reason=reason,
        detail=detail,
    )


def _statuses(outbound_ids: list[int]) -> dict[int, str]:
    return dict(OutboundMessage.objects.filter(pk__in=outbound_ids).values_list("id", "status"))


def outbound_messages_resend(
    *, outbound_ids: list[int], actor: Any, channel: str, reason: str = ""
) -> list[OperatorOutcome]:
    """Each failed row back to the queue, its send enqueued after commit; rows in any other state skipped."""
    before = _statuses(outbound_ids)
    outcomes = []
    for outbound_id in outbound_ids:
        status = before.get(outbound_id, "missing")
        with transaction.atomic():
            moved = status == S.FAILED and outbound_requeue(outbound_id=outbound_id, reason=f"{channel} resend")
            if moved:
                _audit(
                    outbound_id=outbound_id,
                    action="resend",
                    actor=actor,
                    channel=channel,
                    reason=reason,
                    from_status=status,
                )
                transaction.on_commit(lambda pk=outbound_id: task_enqueue(task_name=SEND_TASK, args=[pk]))
        if moved:
            outcomes.append(OperatorOutcome(outbound_id, True, S.QUEUED, "queued to be sent again"))
        else:
            now = _statuses([outbound_id]).get(outbound_id, "missing")
            outcomes.append(OperatorOutcome(outbound_id, False, now, f"not failed ({now})"))
    return outcomes


_RECONCILED = {
    S.SENT: "found at Green API: sent",
    S.DELIVERED: "found at Green API: delivered",
    S.READ: "found at Green API: read",
    S.QUEUED: "surely absent from Green API: sending again",
    S.UNKNOWN: "not settled yet (the journal lags about 2 minutes): the sweeper keeps looking",
}


def outbound_messages_reconcile(
    *, outbound_ids: list[int], actor: Any, channel: str, reason: str = ""
) -> list[OperatorOutcome]:
    """Settle the rows of unknown outcome among ``outbound_ids``, now.

    A ``sending`` row whose worker is surely gone becomes ``unknown`` first (it may have
    been sent). Then the stored ``outgoingAPIMessageReceived`` webhooks and one read of
    Green API's journal settle what they can: found rows become sent, surely absent ones
    are queued again, the rest stay unknown for the sweeper. Other rows are skipped.
    """
    eligible = dict(
        OutboundMessage.objects.filter(outbound_reconcilable_q(now=timezone.now()), pk__in=outbound_ids).values_list(
            "id", "status"
        )
    )
    for outbound_id, attempts in OutboundMessage.objects.filter(pk__in=eligible, status=S.SENDING).values_list(
        "id", "attempts"
    ):
        outbound_mark_lost(outbound_id=outbound_id, attempts=attempts)
    # No transaction around it: it may wait on Green API's journal for seconds.
    outbox_reconcile_unknown(limit=len(eligible), outbound_ids=list(eligible))
    after = _statuses(outbound_ids)
    outcomes = []
    for outbound_id in outbound_ids:
        status = after.get(outbound_id, "missing")
        if outbound_id not in eligible:
            outcomes.append(OperatorOutcome(outbound_id, False, status, f"nothing to reconcile ({status})"))
            continue
        detail = _RECONCILED.get(status, f"now {status}")
        _audit(
            outbound_id=outbound_id,
            action="reconcile",
            actor=actor,
            channel=channel,
            reason=reason,
            from_status=eligible[outbound_id],
            to_status=status,
        )
        outcomes.append(OperatorOutcome(outbound_id, True, status, detail))
    return outcomes
