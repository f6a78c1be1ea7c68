"""Template tags of the messaging admin pages: the same badges the lists show."""

from __future__ import annotations

from typing import Any

from django import template

from messaging.admin import common
from reliability.redaction import redact_text

register = template.Library()


@register.simple_tag
def outbound_badge(status: str) -> str:
    return common.outbound_badge(status)


@register.simple_tag
def sentiment_badges(result: Any) -> str:
    return common.sentiment_badges(result)


@register.filter
def redacted(text: str) -> str:
    return redact_text(text or "")
