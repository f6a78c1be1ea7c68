"""Stored reliability reports in the admin: read-only, each shown as text and as JSON."""

from __future__ import annotations

import json

from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.html import format_html

from reliability.admin.dashboard import dashboard_urls
from reliability.admin.read_only import ReadOnlyAdminMixin
from reliability.reports.models import ReliabilityReport
from reliability.reports.text import report_text


@admin.register(ReliabilityReport)
class ReliabilityReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The hourly job writes these; nobody edits them."""

    list_display = ("__str__", "breakers_open", "dead_letters", "messages", "reply_p99", "generated_at")
    date_hierarchy = "period_end"
    show_full_result_count = False
    fields = ("period_start", "period_end", "generated_at", "as_text", "as_json")
    readonly_fields = fields

    @admin.display(description="breakers open")
    def breakers_open(self, obj: ReliabilityReport) -> str:
        opened = {name: b["open_seconds"] for name, b in obj.data.get("breakers", {}).items() if b["open_seconds"]}
        return ", ".join(f"{name} {seconds / 60:.0f} min" for name, seconds in sorted(opened.items())) or "none"

    @admin.display(description="dead letters in / out")
    def dead_letters(self, obj: ReliabilityReport) -> str:
        dlq = obj.data.get("dead_letters", {})
        return f"{dlq.get('added', '-')} / {dlq.get('out', '-')}"

    @admin.display(description="messages in / replies out")
    def messages(self, obj: ReliabilityReport) -> str:
        messaging = obj.data.get("sections", {}).get("messaging", {})
        return f"{messaging.get('messages_in', '-')} / {messaging.get('replies_out', '-')}"

    @admin.display(description="reply p99")
    def reply_p99(self, obj: ReliabilityReport) -> str:
        p99 = obj.data.get("sections", {}).get("messaging", {}).get("reply_latency_seconds", {}).get("p99")
        return "-" if p99 is None else f"{p99:.2f} s"

    @admin.display(description="report")
    def as_text(self, obj: ReliabilityReport) -> str:
        return format_html('<pre class="reliability-report">{}</pre>', report_text(obj.data))

    @admin.display(description="JSON")
    def as_json(self, obj: ReliabilityReport) -> str:
        text = json.dumps(obj.data, indent=2, sort_keys=True, cls=DjangoJSONEncoder, ensure_ascii=False)
        return format_html('<pre class="reliability-report-json">{}</pre>', text)

    def get_urls(self) -> list:
        # The operator dashboard hangs off this admin: /admin/reliability/reliabilityreport/dashboard/.
        return [*dashboard_urls(self.admin_site), *super().get_urls()]
