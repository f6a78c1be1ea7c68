"""Redaction: every way a secret has reached a DLQ row, an admin page or a log line, in one table.

Each case goes through the three sinks: ``redact`` (what the DLQ stores and the admin
shows), a structlog event carrying the value, and a stdlib log line that formats it
with ``%s``/``%r`` (what libraries and Celery write), rendered by the project's JSON and
console formatters. The secret must survive in none of them; the context around it
must stay readable.
"""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import quote

import pytest
import structlog
from django.test import override_settings
from requests.structures import CaseInsensitiveDict

from config.logging import log_formatter
from reliability.redaction import MASK, redact, redact_text

TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412da6"
GREEN_URL = f"https://7105.api.greenapi.com/waInstance1101000001/sendMessage/{TOKEN}"
DEEPSEEK_KEY = "sk-0f1e2d3c4b5a69788796a5b4c3d2e1f0"

CASES = {
    # name: (value, secrets that must vanish, text that must stay)
    "green api token in the url path": (
        f"HTTPError: 500 for url: {GREEN_URL}",
        [TOKEN],
        ["HTTPError: 500 for url: https://7105.api.greenapi.com/waInstance1101000001/sendMessage/"],
    ),
    "green api token followed by more path": (
        f"/waInstance1101000001/deleteNotification/{TOKEN}/42",
        [TOKEN],
        ["/waInstance1101000001/deleteNotification/", "/42"],
    ),
    "green api url url-encoded in a query parameter": (
        "/callback?next=" + quote(GREEN_URL, safe=""),
        [TOKEN],
        ["/callback?next=", "waInstance1101000001"],
    ),
    "authorization bearer in text": ("Authorization: Bearer abc.def.ghi-jkl", ["abc.def.ghi-jkl"], ["Authorization"]),
    "authorization token scheme in text": (
        "request headers: Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
        ["9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"],
        ["request headers: Authorization"],
    ),
    "authorization basic scheme in text": (
        "Authorization: Basic dXNlcjpodW50ZXIy",
        ["dXNlcjpodW50ZXIy"],
        ["Authorization"],
    ),
    "authorization with a scheme in a json header dump": (
        json.dumps({"Authorization": "Token tok-in-json-4711", "Accept": "application/json"}),
        ["tok-in-json-4711"],
        ["application/json"],
    ),
    "authorization url-encoded": ("h=Authorization%3A%20Token%20urlenc-tok-99", ["urlenc-tok-99"], ["h="]),
    "headers of a requests response (a mapping, not a dict)": (
        CaseInsensitiveDict({"Authorization": "Token cid-tok-4712", "Accept": "text/csv"}),
        ["cid-tok-4712"],
        ["text/csv"],
    ),
    "authorization header dict": ({"Authorization": "Basic dXNlcjpwYXNz", "Accept": "*/*"}, ["dXNlcjpwYXNz"], ["*/*"]),
    "headers as a list of pairs": (
        [["X-Api-Key", "pair-api-key-1"], ["Authorization", "Token pair-token-2"], ["Accept", "text/plain"]],
        ["pair-api-key-1", "pair-token-2"],
        ["X-Api-Key", "text/plain"],
    ),
    "headers as a tuple of tuples": (
        (("Cookie", "sessionid=tuple-cookie-3"), ("Accept", "text/html")),
        ["tuple-cookie-3"],
        ["text/html"],
    ),
    "headers list of pairs as text": (
        str([("X-Api-Key", "repr-api-key-4"), ("Accept", "text/plain")]),
        ["repr-api-key-4"],
        ["X-Api-Key", "text/plain"],
    ),
    "green api url as a dict key": ({GREEN_URL: 3, "other": 1}, [TOKEN], ["waInstance1101000001", "other"]),
    "green api url as a dict key, as text": (str({GREEN_URL: 3}), [TOKEN], ["waInstance1101000001"]),
    "bytes value": ({"body": f"apiTokenInstance={TOKEN}&chatId=1".encode()}, [TOKEN], ["chatId=1"]),
    "bytes on their own": (f"GET {GREEN_URL}".encode(), [TOKEN], ["GET "]),
    "bytes as text (a repr)": (repr(f"apiTokenInstance={TOKEN}".encode()), [TOKEN], ["apiTokenInstance="]),
    "bytearray": (bytearray(b"password=ba-secret-5&x=1"), ["ba-secret-5"], ["x=1"]),
    "set value": ({"urls": {GREEN_URL}}, [TOKEN], ["waInstance1101000001"]),
    "frozenset value": (frozenset({f"token={TOKEN}"}), [TOKEN], ["token="]),
    "json-escaped text": ('{"body": "{\\"password\\": \\"esc-secret-6\\"}"}', ["esc-secret-6"], ['{"body": ']),
    "json-escaped authorization": (
        json.dumps({"body": json.dumps({"Authorization": "Token esc-tok-7"})}),
        ["esc-tok-7"],
        ["body"],
    ),
    "keys auth pwd private_key key sig signature credentials": (
        {
            "auth": "k-auth-01",
            "pwd": "k-pwd-02",
            "private_key": "k-private-03",
            "key": "k-key-04",
            "sig": "k-sig-05",
            "signature": "k-signature-06",
            "credentials": {"user": "u", "password": "k-cred-07"},
            "chatId": "79001234567@c.us",
        },
        ["k-auth-01", "k-pwd-02", "k-private-03", "k-key-04", "k-sig-05", "k-signature-06", "k-cred-07"],
        ["79001234567@c.us"],
    ),
    "the same keys as text": (
        "auth=t-auth-01 pwd=t-pwd-02 private_key=t-private-03 key=t-key-04 sig=t-sig-05 "
        "signature=t-signature-06 credentials=t-cred-07 page=2",
        ["t-auth-01", "t-pwd-02", "t-private-03", "t-key-04", "t-sig-05", "t-signature-06", "t-cred-07"],
        ["page=2"],
    ),
    "the same keys in a python repr": (
        str({"pwd": "r-pwd-01", "private_key": "r-private-02", "sig": "r-sig-03", "n": 1}),
        ["r-pwd-01", "r-private-02", "r-sig-03"],
        ["'n': 1"],
    ),
    "every word of a password after a colon": (
        "login failed, password: correct horse battery",
        ["correct", "horse", "battery"],
        ["login failed, password"],
    ),
    "a quoted password with spaces and an escaped quote": (
        """{'password': 'two words'} {"password": "a\\"quote"}""",
        ["two words", "quote"],
        ["password"],
    ),
    "a bare deepseek key in text": (
        f"openai-compatible call with {DEEPSEEK_KEY} failed",
        [DEEPSEEK_KEY[3:]],
        ["openai-compatible call with", "failed"],
    ),
    "a deepseek key as a bearer header in a list": ([["Authorization", f"Bearer {DEEPSEEK_KEY}"]], [DEEPSEEK_KEY], []),
    "query string token and api key": (
        "GET /health/live?token=SECRET123456&page=2&api_key=k123456",
        ["SECRET123456", "k123456"],
        ["/health/live?", "page=2"],
    ),
    "url-encoded key value": ("q=password%3Durl-secret-8%26page%3D2", ["url-secret-8"], ["q="]),
    "password in a connection url": (
        "postgres://app:s3cretpw@db:5432/app",
        ["s3cretpw"],
        ["postgres://app:", "@db:5432/app"],
    ),
    "cookie header": ("Cookie: sessionid=ck-sess-9; csrftoken=ck-csrf-10", ["ck-sess-9", "ck-csrf-10"], ["Cookie"]),
    "multi-line headers keep the other lines": (
        "Authorization: Token ml-tok-11\nX-Request-ID: keep-this-id\npassword: ml-pw-12\nend",
        ["ml-tok-11", "ml-pw-12"],
        ["X-Request-ID: keep-this-id", "\nend"],
    ),
    "a pem private key": (
        "key material:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nbm90LWEtcmVhbC1rZXk=\n"
        "-----END PRIVATE KEY-----\ndone",
        ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "bm90LWEtcmVhbC1rZXk="],
        ["key material:", "done"],
    ),
    "secret-named keys nested in lists and tuples": (
        {"batch": [{"items": ({"apiTokenInstance": TOKEN, "n": 1},)}], "meta": {"x-api-key": "nested-k-13"}},
        [TOKEN, "nested-k-13"],
        ["items"],
    ),
    "token counts are not secrets": (
        {"usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}, "max_tokens": 200},
        [],
        ["prompt_tokens", "19", "200"],
    ),
}


@pytest.fixture
def rendered_logs():
    """The project's JSON and console formatters on one logger; returns what they wrote."""
    stream = io.StringIO()
    logger = logging.getLogger("tests.redaction")
    saved = (logger.handlers, logger.propagate, logger.level)
    logger.handlers = []
    for json_output in (True, False):
        handler = logging.StreamHandler(stream)
        handler.setFormatter(log_formatter(json_output=json_output))
        logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield stream.getvalue
    logger.handlers, logger.propagate, logger.level = saved


@pytest.mark.parametrize(("value", "secrets", "kept"), list(CASES.values()), ids=list(CASES))
def test_no_secret_survives_in_stored_values_or_log_lines(value, secrets, kept, rendered_logs):
    stored = redact(value)
    stored_text = json.dumps(stored, default=str, ensure_ascii=False)
    structlog.get_logger("tests.redaction").warning("replay_failed", value=value)
    logging.getLogger("tests.redaction").warning("replay failed: %s %r", value, value)
    logged = rendered_logs()
    assert logged.count("replay") == 4, logged  # both lines, through both formatters
    for secret in secrets:
        assert secret not in stored_text
        assert secret not in repr(stored)
        assert secret not in logged, logged
    for text in kept:
        assert text in stored_text or text in str(stored), stored
    if secrets:
        assert MASK in stored_text
    # Log lines are redacted twice (before and after the traceback is rendered): no change.
    assert redact(stored) == stored


def test_redaction_keeps_the_shape_of_json_payloads():
    payload = {"chatId": "79001234567@c.us", "password": "pw", "nested": [{"Authorization": "Bearer x"}], "count": 3}
    assert redact(payload) == {
        "chatId": "79001234567@c.us",
        "password": MASK,
        "nested": [{"Authorization": MASK}],
        "count": 3,
    }


SECRET_VALUES = {
    "GREEN_API_TOKEN": "plain-looking-instance-value-0042",
    "GREEN_API_WEBHOOK_TOKEN": "wh/tok+en=value-0043",
    "DEEPSEEK_API_KEY": "plain-looking-model-value-0044",
}


def test_secret_settings_added_later_are_redacted_wherever_their_values_appear():
    text = " | ".join(f"echoed {value} back" for value in SECRET_VALUES.values())
    assert redact_text(text) == text  # not configured: nothing in the text looks secret
    with override_settings(**SECRET_VALUES):
        redacted = redact_text(text + " url-encoded " + quote(SECRET_VALUES["GREEN_API_WEBHOOK_TOKEN"], safe=""))
        stored = redact({"note": list(SECRET_VALUES.values())})
    assert stored == {"note": [MASK, MASK, MASK]}
    for value in SECRET_VALUES.values():
        assert value not in redacted
    assert quote(SECRET_VALUES["GREEN_API_WEBHOOK_TOKEN"], safe="") not in redacted
    assert redacted.count(MASK) == 4 and redacted.startswith(f"echoed {MASK} back")
    # Settings changed again: the new value is redacted, the one no longer configured is not.
    with override_settings(GREEN_API_TOKEN="another-instance-value-0045"):
        assert redact_text("another-instance-value-0045 and plain-looking-instance-value-0042") == (
            f"{MASK} and plain-looking-instance-value-0042"
        )


def test_short_setting_values_are_not_treated_as_secrets():
    # A value this short would mask ordinary words everywhere.
    with override_settings(GREEN_API_TOKEN="abc"):
        assert redact_text("abc def") == "abc def"
