"""Trigger rules: validation every door shares, safe rendering, matching."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import ValidationError

from messaging.models import Trigger
from messaging.services.triggers import MAX_MESSAGE_CHARS, trigger_matches, trigger_render, trigger_validate

VALID = {
    "keywords": ["refund"],
    "regex": "",
    "sentiment_labels": [],
    "chat_ids": [],
    "reply_template": "Hello {sender_name}, we are on it.",
}


def errors_of(**changes) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        trigger_validate(**{**VALID, **changes})
    return caught.value.message_dict


def rule(**fields) -> Trigger:
    defaults = {"id": 1, "keywords": [], "regex": "", "sentiment_labels": [], "chat_ids": []}
    return Trigger(**{**defaults, **fields})


def test_a_valid_trigger_passes_validation():
    trigger_validate(**VALID)


def test_a_trigger_without_any_condition_is_refused():
    assert errors_of(keywords=[]) == {"__all__": ["set at least one condition: keywords, a regex or sentiment labels"]}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Hi {name}", "unknown placeholder {name}"),
        ("Hi {text.__class__}", "unknown placeholder {text.__class__}"),
        ("Hi {0}", "unknown placeholder {0}"),
        ("Hi {", "unbalanced brace"),
        ("Hi }", "unbalanced brace"),
    ],
)
def test_templates_with_unknown_placeholders_or_stray_braces_are_refused(template, message):
    assert message in errors_of(reply_template=template)["reply_template"][0]


def test_a_regex_re2_cannot_compile_is_refused_with_the_reason():
    assert "not a valid RE2 regular expression" in errors_of(regex=r"(a)\1")["regex"][0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("keywords", "refund"),
        ("keywords", ["ok", ""]),
        ("keywords", [3]),
        ("keywords", ["a\x00b"]),
        ("sentiment_labels", ["angry"]),
        ("sentiment_labels", "negative"),
        ("chat_ids", ["79001234567"]),
        ("reply_template", ""),
        ("reply_template", "x" * (MAX_MESSAGE_CHARS + 1)),
        ("regex", 5),
    ],
)
def test_wrong_types_and_values_are_refused_by_field(field, value):
    assert field in errors_of(**{field: value})


@pytest.mark.django_db
def test_model_clean_uses_the_same_validation():
    trigger = Trigger(name="t", keywords=["refund"], reply_template="Hi {nope}")
    with pytest.raises(ValidationError) as caught:
        trigger.full_clean()
    assert "reply_template" in caught.value.message_dict


def test_rendering_replaces_known_placeholders_and_never_reparses_inserted_text():
    rendered = trigger_render(
        template="{{Hi}} {sender_name}: you said {text}",
        values={"sender_name": "Anna", "text": "{sender_name} {text.__class__}"},
    )
    assert rendered == "{Hi} Anna: you said {sender_name} {text.__class__}"


def test_rendering_stops_at_green_apis_message_limit():
    assert len(trigger_render(template="{text}{text}", values={"text": "x" * MAX_MESSAGE_CHARS})) == MAX_MESSAGE_CHARS


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("I want a REFUND now", True),
        ("Refund!", True),
        ("refunds please", False),
        ("prerefund", False),
    ],
)
def test_keywords_match_whole_words_case_insensitively(text, matches):
    assert trigger_matches(rule=rule(keywords=["refund"]), text=text, chat_id="1@c.us", sentiment_label=None) is matches


def test_keywords_may_be_phrases_and_contain_punctuation():
    phrase = rule(keywords=["never arrived", "c++"])
    assert trigger_matches(rule=phrase, text="My order NEVER arrived.", chat_id="1@c.us", sentiment_label=None)
    assert trigger_matches(rule=phrase, text="I like c++ a lot", chat_id="1@c.us", sentiment_label=None)


def test_every_condition_set_must_hold():
    both = rule(keywords=["order"], sentiment_labels=["negative"], chat_ids=["1@c.us"])
    assert trigger_matches(rule=both, text="my order", chat_id="1@c.us", sentiment_label="negative")
    assert not trigger_matches(rule=both, text="my order", chat_id="1@c.us", sentiment_label="positive")
    assert not trigger_matches(rule=both, text="my order", chat_id="2@c.us", sentiment_label="negative")
    assert not trigger_matches(rule=both, text="my parcel", chat_id="1@c.us", sentiment_label="negative")


def test_a_regex_that_backtracks_catastrophically_elsewhere_matches_in_linear_time():
    started = time.perf_counter()
    matched = trigger_matches(
        rule=rule(regex=r"^(a+)+$"), text="a" * 50_000 + "b", chat_id="1@c.us", sentiment_label=None
    )
    assert not matched
    assert time.perf_counter() - started < 1.0


def test_a_stored_regex_that_does_not_compile_never_fires():
    assert not trigger_matches(rule=rule(regex=r"(a)\1"), text="aa", chat_id="1@c.us", sentiment_label=None)
