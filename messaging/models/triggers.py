"""Triggers (automatic replies) and their firings, which the per-chat cooldown reads."""

from __future__ import annotations

from django.db import models

from messaging.models.inbound import WebhookEvent


class Trigger(models.Model):
    """A rule: when an inbound text matches every condition set here, reply with the template.

    Conditions: ``keywords`` (any of them as a whole word, case-insensitive), ``regex``
    (RE2 syntax, so matching takes linear time), ``sentiment_labels`` (the message's label
    is one of them) and ``chat_ids`` (empty: every chat). At least one of the first three
    must be set. ``messaging.services.triggers.trigger_validate`` holds the rules; every
    door (admin, API, code) goes through it.
    """

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    keywords = models.JSONField(default=list, blank=True)
    regex = models.TextField(blank=True)
    sentiment_labels = models.JSONField(default=list, blank=True)
    chat_ids = models.JSONField(default=list, blank=True)
    # Placeholders: {sender_name}, {text}, {chat_id}, {sentiment}; {{ and }} for braces.
    reply_template = models.TextField()
    # No second reply from this trigger to the same chat within this many seconds.
    cooldown_seconds = models.PositiveIntegerField(default=0)
    # Higher first; at most one trigger replies to an inbound message.
    priority = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "id"]
        permissions = [("execute_trigger", "Can execute a trigger by hand")]
        indexes = [models.Index(fields=["enabled", "priority"], name="trigger_enabled_priority_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from messaging.services.triggers import trigger_validate

        trigger_validate(
            keywords=self.keywords,
            regex=self.regex,
            sentiment_labels=self.sentiment_labels,
            chat_ids=self.chat_ids,
            reply_template=self.reply_template,
        )


class TriggerFiring(models.Model):
    """A trigger replied to a chat at ``fired_at``; the cooldown reads the latest one."""

    # Indexed by the cooldown index, which starts with it.
    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="firings", db_index=False)
    chat_id = models.CharField(max_length=255)
    fired_at = models.DateTimeField()
    inbound = models.ForeignKey(WebhookEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-fired_at"]
        indexes = [models.Index(fields=["trigger", "chat_id", "fired_at"], name="triggerfiring_cooldown_idx")]

    def __str__(self) -> str:
        return f"{self.trigger_id} -> {self.chat_id} at {self.fired_at:%Y-%m-%d %H:%M:%S}"
