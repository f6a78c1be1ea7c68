from __future__ import annotations

import logging

import structlog


def test_log_events_are_redacted_before_they_reach_a_handler(caplog):
    caplog.set_level(logging.INFO)
    structlog.get_logger("test").warning(
        "send_failed",
        url="https://api.green-api.com/waInstance1101000001/sendMessage/0123456789abcdef",
        headers={"Authorization": "Bearer sk-live-abc"},
    )
    event = caplog.records[-1].msg
    assert "0123456789abcdef" not in str(event)
    assert "sk-live-abc" not in str(event)
    assert event["url"].endswith("/sendMessage/[REDACTED]")


def test_stdlib_log_lines_are_redacted_when_formatted():
    handler = logging.getLogger().handlers[0]
    record = logging.LogRecord(
        "urllib3", logging.WARNING, __file__, 1, "retrying %s", ("redis://:pw123456@h:6379",), None
    )
    assert "pw123456" not in handler.format(record)
