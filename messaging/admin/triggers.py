"""Triggers in the admin: a list with an enabled toggle, and a form that says what is wrong per field.

The form edits keywords and chat ids one per line and sentiment labels as checkboxes;
saving runs the model's ``full_clean``, whose ``clean`` is ``trigger_validate``, so the
admin refuses exactly what the API refuses, with the message under the field at fault.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest

from messaging.admin.common import short
from messaging.models import SentimentLabel, Trigger
from messaging.services.triggers import PLACEHOLDERS


class LinesField(forms.CharField):
    """A list of strings, edited one per line (blank lines dropped)."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class TriggerForm(forms.ModelForm):
    keywords = LinesField(required=False, help_text="One per line; any of them, as a whole word, case-insensitive.")
    chat_ids = LinesField(required=False, help_text="One chat id per line (e.g. 79001234567@c.us); empty: every chat.")
    sentiment_labels = forms.MultipleChoiceField(
        required=False,
        choices=SentimentLabel.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The message's sentiment is one of these; none ticked: any sentiment.",
    )

    class Meta:
        model = Trigger
        fields = (
            "name",
            "enabled",
            "priority",
            "keywords",
            "regex",
            "sentiment_labels",
            "chat_ids",
            "reply_template",
            "cooldown_seconds",
        )
        widgets = {"regex": forms.TextInput(attrs={"size": 60}), "reply_template": forms.Textarea(attrs={"rows": 4})}
        help_texts = {
            "regex": "RE2 syntax (no backreferences or lookarounds); matched anywhere in the text.",
            "reply_template": "Placeholders: "
            + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            + "; {{ and }} for braces.",
            "cooldown_seconds": "No second reply from this trigger to the same chat within this many seconds.",
            "priority": "Higher first; at most one trigger replies to a message.",
        }


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    form = TriggerForm
    list_display = ("name", "enabled", "priority", "conditions", "template_short", "cooldown_seconds")
    list_display_links = ("name",)
    list_editable = ("enabled",)
    list_filter = ("enabled",)
    search_fields = ("name",)
    ordering = ("-priority", "id")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("name", "enabled", "priority")}),
        (
            "When (every condition set must hold; at least one of keywords, regex, sentiment)",
            {"fields": ("keywords", "regex", "sentiment_labels", "chat_ids")},
        ),
        ("Reply", {"fields": ("reply_template", "cooldown_seconds")}),
        ("Recorded", {"fields": ("created_at", "updated_at")}),
    )
    readonly_fields = ("created_at", "updated_at")

    def get_fieldsets(self, request: HttpRequest, obj: Trigger | None = None) -> Any:
        # A trigger being added has no times to show yet.
        return self.fieldsets if obj is not None else self.fieldsets[:-1]

    @admin.display(description="conditions")
    def conditions(self, obj: Trigger) -> str:
        parts = []
        if obj.keywords:
            parts.append("keywords: " + ", ".join(obj.keywords))
        if obj.regex:
            parts.append(f"regex: {obj.regex}")
        if obj.sentiment_labels:
            parts.append("sentiment: " + ", ".join(obj.sentiment_labels))
        if obj.chat_ids:
            parts.append(f"{len(obj.chat_ids)} chat{'s' if len(obj.chat_ids) != 1 else ''}")
        return short("; ".join(parts), 80)

    @admin.display(description="reply")
    def template_short(self, obj: Trigger) -> str:
        return short(obj.reply_template)

    def get_changelist_form(self, request: HttpRequest, **kwargs: Any) -> type[forms.ModelForm]:
        return super().get_changelist_form(request, form=EnabledToggleForm, **kwargs)


class EnabledToggleForm(forms.ModelForm):
    """The list's toggle. Saving still validates the whole trigger (one stored before the
    rules existed may fail them); the list shows errors only beside its editable cells, so
    every message is put under the toggle, naming the field it is about."""

    class Meta:
        model = Trigger
        fields = ("enabled",)

    def _update_errors(self, errors: ValidationError) -> None:
        messages = [
            message if field == NON_FIELD_ERRORS else f"{field}: {message}"
            for field, field_messages in errors.message_dict.items()
            for message in field_messages
        ]
        self.add_error("enabled", messages)
