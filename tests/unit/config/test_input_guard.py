"""``json_loads_strict``: every problem with untrusted JSON is a ValueError with a message."""

from __future__ import annotations

import pytest

from config.input_guard import MAX_JSON_DEPTH, json_loads_strict


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_documents_up_to_the_depth_limit_parse():
    assert json_loads_strict(nested(MAX_JSON_DEPTH)) is not None
    assert json_loads_strict('{"a": {"b": [1, 2.5, "x", null, true]}}') == {"a": {"b": [1, 2.5, "x", None, True]}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (nested(MAX_JSON_DEPTH + 1), f"nested deeper than {MAX_JSON_DEPTH} levels"),
        ("[" * 100_000, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        ('{"a":' * 100_000, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        ('{"reason": "a\\u0000b"}', "NUL characters"),
        ('{"a\\u0000": 1}', "NUL characters"),
        ('[["\\u0000"]]', "NUL characters"),
        ('{"timeout": NaN}', "NaN is not valid JSON"),
        ("[Infinity]", "Infinity is not valid JSON"),
        ("-Infinity", "-Infinity is not valid JSON"),
        ('{"score": 1e999}', "too large"),
        ("[-1e400]", "too large"),
        ('{"a": ', "Expecting value"),
        ('{"text": "\\ud800"}', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        ('[["ok", "\\ud83d"]]', "lone surrogate"),
    ],
)
def test_unsafe_documents_are_refused(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        json_loads_strict(text)


def test_a_surrogate_pair_is_one_ordinary_character():
    assert json_loads_strict('{"text": "\\ud83d\\ude00"}') == {"text": "\U0001f600"}
