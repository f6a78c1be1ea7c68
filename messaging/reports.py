"""Messaging's section of the reliability report: messages in, replies out, reply latency.

Registered from ``MessagingConfig.ready`` (``reliability`` never imports ``messaging``).
Latency is from an inbound message's arrival (``received_at``) to Green API accepting the
reply (``sent_at``), as ``messaging_reply_latency_seconds`` measures it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q

from messaging.models import OutboundMessage, WebhookEvent, WebhookType
from reliability.reports.registry import register_report_section
from reliability.reports.stats import percentiles_seconds


def reply_latency() -> ExpressionWrapper:
    return ExpressionWrapper(F("sent_at") - F("inbound__received_at"), output_field=DurationField())


def messaging_report_section(*, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    """Counts over ``[since, until)``: inbound texts by arrival, replies and all sends by acceptance."""
    messages_in = WebhookEvent.objects.filter(
        type_webhook=WebhookType.INCOMING_MESSAGE, received_at__gte=since, received_at__lt=until
    ).count()
    sent = OutboundMessage.objects.filter(sent_at__gte=since, sent_at__lt=until).order_by()
    by_origin = sent.aggregate(total=Count("pk"), replies=Count("pk", filter=Q(inbound__isnull=False)))
    replies = sent.filter(inbound__isnull=False).annotate(latency=reply_latency())
    return {
        "messages_in": messages_in,
        "replies_out": by_origin["replies"],
        "messages_out": by_origin["total"],
        "reply_latency_seconds": percentiles_seconds(queryset=replies, field="latency"),
    }


def messaging_report_text(data: dict[str, Any]) -> list[str]:
    latency = data["reply_latency_seconds"]

    def shown(key: str) -> str:
        return "-" if latency[key] is None else f"{latency[key]:.3f} s"

    return [
        f"messages in {data['messages_in']}, replies out {data['replies_out']} "
        f"(all messages out {data['messages_out']})",
        f"reply latency: p50 {shown('p50')}, p90 {shown('p90')}, p99 {shown('p99')}, max {shown('max')}",
    ]


def register_report_sections() -> None:
    register_report_section(
        "messaging", messaging_report_section, title="Messages and replies", text=messaging_report_text
    )
