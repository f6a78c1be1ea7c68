"""Triggers: validation (every door calls ``trigger_validate``), matching and reply rendering.

Matching is pure computation on the inbound text and its sentiment, done before any
transaction; the cooldown, which needs the database, is checked by the pipeline inside
its transaction (``trigger_claim_cooldown``).

Regular expressions are RE2 (google-re2): matching takes time linear in the text, so no
pattern an operator saves can make a worker spin on a crafted message. RE2 has no
backreferences or lookarounds; such patterns are refused when the trigger is saved.

Templates know a fixed set of ``{placeholders}`` and are rendered by substitution, never
``str.format`` (which would let ``{text.__class__}`` reach attributes).
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import re2
from django.core.exceptions import ValidationError
from django.db import connection

from messaging.models import SentimentLabel, Trigger, TriggerFiring, WebhookEvent

PLACEHOLDERS = ("sender_name", "text", "chat_id", "sentiment")
# Green API refuses longer messages (sendMessage: up to 20,000 characters).
MAX_MESSAGE_CHARS = 20_000
MAX_KEYWORDS = 50
MAX_KEYWORD_CHARS = 100
MAX_REGEX_CHARS = 1_000
MAX_CHAT_IDS = 500

_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


# --- validation ------------------------------------------------------------------------


def _string_list(value: Any, *, field: str, max_items: int, max_chars: int) -> None:
    if not isinstance(value, list):
        raise ValidationError({field: "must be a list of strings"})
    if len(value) > max_items:
        raise ValidationError({field: f"at most {max_items} entries"})
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValidationError({field: "every entry must be a non-empty string"})
        if len(item) > max_chars:
            raise ValidationError({field: f"entries are at most {max_chars} characters"})
        if "\x00" in item:
            raise ValidationError({field: "entries may not contain NUL characters"})


def _template_errors(template: str) -> list[str]:
    errors = []
    for match in _TEMPLATE_TOKEN.finditer(template):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            errors.append("unbalanced brace: write {{ or }} for a literal brace")
        elif name not in PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            errors.append(f"unknown placeholder {{{name}}}; known: {known}")
    return sorted(set(errors))


@functools.lru_cache(maxsize=256)
def regex_compile(pattern: str) -> Any:
    """``pattern`` compiled with RE2 (cached); ``ValueError`` with RE2's reason when it does not compile."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise ValueError(reason) from None


def trigger_validate(
    *,
    keywords: Any,
    regex: Any,
    sentiment_labels: Any,
    chat_ids: Any,
    reply_template: Any,
) -> None:
    """Raise ``ValidationError`` (by field) unless these make a trigger that can fire and render."""
    checks = (
        ("keywords", lambda: _check_keywords(keywords)),
        ("chat_ids", lambda: _check_chat_ids(chat_ids)),
        ("sentiment_labels", lambda: _check_labels(sentiment_labels)),
        ("regex", lambda: _check_regex(regex)),
        ("reply_template", lambda: _check_template(reply_template)),
    )
    errors: dict[str, list[str]] = {}
    for field, check in checks:
        try:
            check()
        except ValidationError as exc:
            errors.setdefault(field, []).extend(exc.message_dict.get(field, exc.messages))
    if not errors and not (keywords or regex or sentiment_labels):
        errors["__all__"] = ["set at least one condition: keywords, a regex or sentiment labels"]
    if errors:
        raise ValidationError(errors)


def _check_keywords(keywords: Any) -> None:
    _string_list(keywords, field="keywords", max_items=MAX_KEYWORDS, max_chars=MAX_KEYWORD_CHARS)


def _check_chat_ids(chat_ids: Any) -> None:
    _string_list(chat_ids, field="chat_ids", max_items=MAX_CHAT_IDS, max_chars=255)
    bad = [chat for chat in chat_ids if "@" not in chat or chat != chat.strip()]
    if bad:
        raise ValidationError({"chat_ids": f"not a chat id (like 79001234567@c.us): {bad[0]!r}"})


def _check_labels(labels: Any) -> None:
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValidationError({"sentiment_labels": "must be a list of labels"})
    unknown = sorted(set(labels) - set(SentimentLabel.values))
    if unknown:
        raise ValidationError(
            {"sentiment_labels": f"unknown label {unknown[0]!r}; known: {', '.join(SentimentLabel.values)}"}
        )
    if len(set(labels)) != len(labels):
        raise ValidationError({"sentiment_labels": "each label at most once"})


def _check_regex(regex: Any) -> None:
    if not isinstance(regex, str):
        raise ValidationError({"regex": "must be a string"})
    if not regex:
        return
    if len(regex) > MAX_REGEX_CHARS:
        raise ValidationError({"regex": f"at most {MAX_REGEX_CHARS} characters"})
    if "\x00" in regex:
        raise ValidationError({"regex": "may not contain NUL characters"})
    try:
        regex_compile(regex)
    except ValueError as exc:
        raise ValidationError({"regex": f"not a valid RE2 regular expression: {exc}"}) from None


def _check_template(template: Any) -> None:
    if not isinstance(template, str) or not template.strip():
        raise ValidationError({"reply_template": "must be a non-empty string"})
    if len(template) > MAX_MESSAGE_CHARS:
        raise ValidationError({"reply_template": f"at most {MAX_MESSAGE_CHARS} characters"})
    if "\x00" in template:
        raise ValidationError({"reply_template": "may not contain NUL characters"})
    errors = _template_errors(template)
    if errors:
        raise ValidationError({"reply_template": errors})


# --- rendering -------------------------------------------------------------------------


def trigger_render(*, template: str, values: dict[str, str]) -> str:
    """``template`` with its placeholders replaced by ``values``, at most 20,000 characters.

    Only the names in ``PLACEHOLDERS`` are replaced (missing values render empty); the
    inserted text is never parsed again, so a message containing ``{text}`` stays as it is.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name in PLACEHOLDERS:
            return values.get(name, "")
        return token  # refused by validation; left as written rather than guessed

    return _TEMPLATE_TOKEN.sub(replace, template)[:MAX_MESSAGE_CHARS]


# --- matching --------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    # Escaped literals only: no backtracking beyond the text's length. A keyword is a whole
    # word (or phrase) when no word character touches it on either side.
    alternatives = "|".join(re.escape(keyword.strip().casefold()) for keyword in keywords)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def trigger_matches(*, rule: Trigger, text: str, chat_id: str, sentiment_label: str | None) -> bool:
    """Does an inbound ``text`` in ``chat_id`` with ``sentiment_label`` meet every condition of ``rule``?"""
    if rule.chat_ids and chat_id not in rule.chat_ids:
        return False
    if rule.sentiment_labels and sentiment_label not in rule.sentiment_labels:
        return False
    if rule.keywords and not _keyword_pattern(tuple(rule.keywords)).search(text.casefold()):
        return False
    if rule.regex:
        try:
            compiled = regex_compile(rule.regex)
        except ValueError:
            return False  # saved before validation existed, or edited in the database: never fires
        if compiled.search(text) is None:
            return False
    return True


def triggers_matching(
    *, rules: Iterable[Trigger], text: str, chat_id: str, sentiment_label: str | None
) -> list[Trigger]:
    """The rules that match, in the order given (the caller orders by priority)."""
    return [
        rule
        for rule in rules
        if trigger_matches(rule=rule, text=text, chat_id=chat_id, sentiment_label=sentiment_label)
    ]


# --- cooldown --------------------------------------------------------------------------


def trigger_claim_cooldown(*, trigger: Trigger, chat_id: str, inbound: WebhookEvent | None, now: datetime) -> bool:
    """Record a firing of ``trigger`` for ``chat_id`` unless its cooldown forbids one; True when recorded.

    Call inside the transaction that writes the reply. Two workers processing messages
    of the same chat at once must not both fire: on PostgreSQL a transaction-scoped
    advisory lock per (trigger, chat) serialises them; SQLite's writers are serialised
    by its immediate transactions already.
    """
    if trigger.cooldown_seconds:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                key = zlib.crc32(chat_id.encode("utf-8")) - 2**31
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [trigger.pk % 2**31, key])
        recent = TriggerFiring.objects.filter(
            trigger=trigger, chat_id=chat_id, fired_at__gt=now - timedelta(seconds=trigger.cooldown_seconds)
        )
        if recent.exists():
            return False
    TriggerFiring.objects.create(trigger=trigger, chat_id=chat_id, fired_at=now, inbound=inbound)
    return True


# --- the demo's triggers ----------------------------------------------------------------

# What `make run` seeds so the sample conversation (``python -m sandbox play``) gets replies.
# The cooldowns keep a chat from getting the same text twice in a row.
DEMO_TRIGGERS = (
    {
        "name": "Refunds",
        "keywords": ["refund", "money back"],
        "priority": 20,
        "cooldown_seconds": 60,
        "reply_template": "{sender_name}, we have started your refund; you will hear from us within a day.",
    },
    {
        "name": "Order problems",
        "keywords": ["order", "missing", "never arrived"],
        "priority": 10,
        "cooldown_seconds": 60,
        "reply_template": "Sorry to hear that, {sender_name}. We are looking into your order right now.",
    },
    {
        "name": "Happy customers",
        "sentiment_labels": ["positive"],
        "priority": 5,
        "cooldown_seconds": 3600,
        "reply_template": "Thank you, {sender_name}! We are glad you are happy.",
    },
    {
        "name": "Opening hours",
        "keywords": ["open", "opening hours", "saturday"],
        "priority": 1,
        "cooldown_seconds": 60,
        "reply_template": "We are open Monday to Saturday, 9:00 to 18:00.",
    },
)


def triggers_demo_seed() -> list[str]:
    """Create the demo triggers that do not exist yet (by name); returns the names created."""
    created = []
    for spec in DEMO_TRIGGERS:
        fields = {"keywords": [], "regex": "", "sentiment_labels": [], "chat_ids": [], **spec}
        trigger_validate(
            keywords=fields["keywords"],
            regex=fields["regex"],
            sentiment_labels=fields["sentiment_labels"],
            chat_ids=fields["chat_ids"],
            reply_template=fields["reply_template"],
        )
        name = fields.pop("name")
        _, was_created = Trigger.objects.get_or_create(name=name, defaults=fields)
        if was_created:
            created.append(name)
    return created
