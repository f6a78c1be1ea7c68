"""Messaging's panels of the operator dashboard: the outbox by status, messages and replies
per minute, reply latency. Registered from ``MessagingConfig.ready``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from messaging.metrics import OUTBOUND_COUNT_CAP
from messaging.models import OutboundMessage, OutboundStatus, WebhookEvent, WebhookType
from messaging.reports import reply_latency
from messaging.selectors import outbound_open_counts
from reliability.dashboard.charts import Series, line_chart_svg
from reliability.dashboard.registry import ChartWindow, DashboardPanel, register_dashboard_panel
from reliability.dashboard.series import counts_per_bucket, durations_per_bucket

DONE_STATUSES = (OutboundStatus.SENT, OutboundStatus.DELIVERED, OutboundStatus.READ)


def outbox_context(*, request: HttpRequest, window: ChartWindow) -> dict[str, Any]:
    changelist = reverse("admin:messaging_outboundmessage_changelist")
    rows = []
    # The rows that still need something, counted as the metrics scrape counts them (bounded).
    for status, count in outbound_open_counts(cap=OUTBOUND_COUNT_CAP).items():
        rows.append(
            {
                "status": status,
                "label": OutboundStatus(status).label,
                "count": count,
                "capped": count >= OUTBOUND_COUNT_CAP,
                "url": f"{changelist}?{urlencode({'status__exact': status})}",
            }
        )
    recent = OutboundMessage.objects.filter(sent_at__gte=window.since, status__in=DONE_STATUSES)
    for status in DONE_STATUSES:
        rows.append(
            {
                "status": status,
                "label": f"{OutboundStatus(status).label} (sent in the window)",
                "count": recent.filter(status=status).count(),
                "capped": False,
                "url": f"{changelist}?{urlencode({'status__exact': status})}",
            }
        )
    return {"rows": rows, "cap": OUTBOUND_COUNT_CAP, "list_url": changelist}


def messages_context(*, request: HttpRequest, window: ChartWindow) -> dict[str, Any]:
    span = {"since": window.since, "until": window.until, "step": window.step}
    incoming = WebhookEvent.objects.filter(type_webhook=WebhookType.INCOMING_MESSAGE)
    replies = OutboundMessage.objects.filter(inbound__isnull=False)
    messages_in = counts_per_bucket(queryset=incoming, field="received_at", **span)
    replies_out = counts_per_bucket(queryset=replies, field="sent_at", **span)
    latency = durations_per_bucket(
        queryset=replies.annotate(latency=reply_latency()), field="sent_at", duration="latency", **span
    )
    per = "minute" if window.step.total_seconds() == 60 else f"minute, in buckets of {window.step}"
    return {
        "messages_chart": line_chart_svg(
            series=[
                Series("messages in", "#1565c0", messages_in),
                Series("replies out", "#2e7d32", replies_out),
            ],
            title=f"Messages in and replies out per {per}",
            since=window.since,
            until=window.until,
        ),
        "latency_chart": line_chart_svg(
            series=[
                Series("mean", "#6a1b9a", latency["mean"]),
                Series("max", "#c62828", latency["max"]),
            ],
            title="Reply latency (received to accepted by Green API)",
            since=window.since,
            until=window.until,
            unit=" s",
        ),
        "messages_in": round(sum(value for _, value in messages_in) * window.step.total_seconds() / 60),
        "replies_out": round(sum(value for _, value in replies_out) * window.step.total_seconds() / 60),
        "events_url": f"{reverse('admin:messaging_webhookevent_changelist')}?"
        f"{urlencode({'type': WebhookType.INCOMING_MESSAGE})}",
    }


def register_dashboard_panels() -> None:
    register_dashboard_panel(
        DashboardPanel(
            key="outbox",
            title="Outbox",
            permissions=("messaging.view_outboundmessage",),
            template="admin/messaging/dashboard/_outbox.html",
            context=outbox_context,
            order=40,
        )
    )
    register_dashboard_panel(
        DashboardPanel(
            key="messages",
            title="Messages and replies",
            permissions=("messaging.view_webhookevent", "messaging.view_outboundmessage"),
            template="admin/messaging/dashboard/_messages.html",
            context=messages_context,
            order=50,
        )
    )
