"""The API's JSON parser: hostile bodies get a 400 or 413, never a 500 or an unbounded read."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from messaging.api.parsers import MAX_BODY_BYTES, MAX_DEPTH, PayloadTooLarge, StrictJSONParser


def parse(raw: bytes | str):
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    return StrictJSONParser().parse(io.BytesIO(raw), "application/json", {"encoding": "utf-8"})


def test_an_ordinary_body_parses():
    assert parse('{"text": "Привет 👋", "force": true, "n": 3, "x": 1.5}') == {
        "text": "Привет 👋",
        "force": True,
        "n": 3,
        "x": 1.5,
    }


@pytest.mark.parametrize("body", ['{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"x": 1e999}', '{"x": -1e400}'])
def test_non_finite_numbers_are_refused(body):
    with pytest.raises(ParseError):
        parse(body)


def test_an_integer_with_thousands_of_digits_is_refused_not_converted():
    with pytest.raises(ParseError):
        parse('{"x": ' + "9" * 5000 + "}")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 50, 100_000])
def test_deep_nesting_is_refused_at_any_depth(depth):
    with pytest.raises(ParseError, match="nested deeper"):
        parse("[" * depth + "]" * depth)


def test_nesting_up_to_the_limit_is_fine():
    body = '{"a": ' * (MAX_DEPTH - 1) + "1" + "}" * (MAX_DEPTH - 1)
    assert isinstance(parse(body), dict)


@pytest.mark.parametrize("body", ['{"text": "\\ud800"}', '{"\\udfff": 1}', '{"keywords": ["ok", "\\ud83d"]}'])
def test_lone_surrogates_anywhere_are_refused(body):
    with pytest.raises(ParseError, match="lone surrogate"):
        parse(body)


def test_a_surrogate_pair_is_an_ordinary_character():
    assert parse('{"text": "\\ud83d\\ude00"}') == {"text": "😀"}


def test_a_body_over_the_limit_is_413_without_reading_the_rest():
    stream = io.BytesIO(b'{"text": "' + b"a" * (MAX_BODY_BYTES * 4) + b'"}')
    with pytest.raises(PayloadTooLarge):
        StrictJSONParser().parse(stream, "application/json", {})
    assert stream.tell() == MAX_BODY_BYTES + 1


def test_a_20000_character_text_of_escapes_fits_under_the_limit():
    body = json.dumps({"text": "я" * 20_000, "chat_id": "79001234567@c.us"})  # \u044f escapes
    assert len(body) < MAX_BODY_BYTES
    assert len(parse(body)["text"]) == 20_000


@pytest.mark.parametrize("raw", [b"\xff\xfe{}", b'{"text": "\xc3"}'])
def test_bytes_that_are_not_utf8_are_refused(raw):
    with pytest.raises(ParseError, match="not valid utf-8"):
        parse(raw)


@pytest.mark.parametrize("body", ["", "{", '{"a": 1,}', "nul", '{"a": "\x01"}'])
def test_malformed_json_is_a_parse_error(body):
    with pytest.raises(ParseError):
        parse(body)
