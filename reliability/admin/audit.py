from __future__ import annotations

from django.contrib import admin

from reliability.admin.read_only import ReadOnlyAdminMixin
from reliability.audit import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: the trail is written by the actions it records, never edited."""

    list_display = ("created_at", "actor_label", "action", "target_type", "target_id", "reason")
    list_filter = ("action", "target_type")
    search_fields = ("actor_label", "target_id", "reason")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)
    show_full_result_count = False
