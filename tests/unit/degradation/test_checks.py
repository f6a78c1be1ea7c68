from __future__ import annotations

from reliability.degradation.checks import check_degradation_tables


def messages(settings, **tables):
    for name, value in tables.items():
        setattr(settings, name, value)
    return [(error.id, error.msg) for error in check_degradation_tables()]


def test_the_default_tables_pass(settings):
    assert check_degradation_tables() == []


def test_a_rule_naming_an_unknown_level_or_condition_is_refused(settings):
    found = messages(
        settings,
        DEGRADATION_RULES={
            "breaker_open:deepseek": "yellow",
            "disk_full": "severe",
            "breaker_open": "minor",
            "redis_down:x": "severe",
            "health:green_api:stateInstance~authorized": "moderate",
        },
    )
    ids = {error_id for error_id, _ in found}
    text = "\n".join(message for _, message in found)
    assert ids == {"reliability.E201"}
    assert "unknown degradation level 'yellow'; valid levels: normal, minor, moderate, severe, critical" in text
    assert "unknown condition kind 'disk_full'" in text
    assert "'breaker_open' needs an argument" in text
    assert "redis_down takes no argument" in text
    assert "'stateInstance~authorized' is not FIELD!=VALUE or FIELD=VALUE" in text


def test_a_feature_matrix_naming_an_unknown_level_is_refused(settings):
    found = messages(settings, DEGRADATION_FEATURES={"ai_sentiment": "normal", "reports": "sometimes", "": "minor"})
    assert [error_id for error_id, _ in found] == ["reliability.E202", "reliability.E202"]
    assert "DEGRADATION_FEATURES['reports']: unknown degradation level 'sometimes'" in found[0][1]


def test_tables_that_are_not_objects_are_refused(settings):
    found = messages(settings, DEGRADATION_RULES=["redis_down"], DEGRADATION_FEATURES="all")
    assert [message for _, message in found] == [
        "DEGRADATION_RULES must be an object of name -> level, not list",
        "DEGRADATION_FEATURES must be an object of name -> level, not str",
    ]


def test_canned_replies_need_texts_and_a_default(settings):
    assert messages(settings, DEGRADATION_CANNED_REPLIES={"greeting": "Hi"}) == [
        ("reliability.E203", "DEGRADATION_CANNED_REPLIES needs a 'default' reply for kinds it does not name")
    ]
    assert [i for i, _ in messages(settings, DEGRADATION_CANNED_REPLIES={"default": ""})] == ["reliability.E203"]
