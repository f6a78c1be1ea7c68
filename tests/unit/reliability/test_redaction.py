from __future__ import annotations

from reliability.redaction import MASK, redact, redact_text

TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412da6"


def test_the_green_api_token_path_segment_is_masked():
    url = f"https://7105.api.greenapi.com/waInstance1101000001/sendMessage/{TOKEN}"
    assert redact_text(f"HTTPError: 500 for url: {url}") == (
        f"HTTPError: 500 for url: https://7105.api.greenapi.com/waInstance1101000001/sendMessage/{MASK}"
    )


def test_a_token_followed_by_more_path_is_masked():
    text = f"/waInstance1101000001/deleteNotification/{TOKEN}/42"
    assert TOKEN not in redact_text(text)
    assert redact_text(text).endswith("/42")


def test_bearer_tokens_query_parameters_and_url_passwords_are_masked():
    text = "Authorization: Bearer abc.def.ghi url=/x?api_key=k123&page=2 postgres://app:s3cret@db:5432/app"
    redacted = redact_text(text)
    for secret in ("abc.def.ghi", "k123", "s3cret"):
        assert secret not in redacted
    assert "page=2" in redacted and "postgres://app:" in redacted


def test_configured_secret_values_are_masked_wherever_they_appear(settings):
    settings.DEEPSEEK_API_KEY = "sk-configured-key-value"
    assert redact_text("echoed key sk-configured-key-value back") == f"echoed key {MASK} back"


def test_payload_keys_that_name_secrets_are_masked_recursively():
    payload = {
        "chatId": "79001234567@c.us",
        "apiTokenInstance": TOKEN,
        "nested": [{"password": "pw"}, {"Authorization": "Bearer x"}],
        "note": f"see /waInstance1/getStateInstance/{TOKEN}",
        "count": 3,
    }
    redacted = redact(payload)
    assert TOKEN not in str(redacted)
    assert redacted["chatId"] == "79001234567@c.us"
    assert redacted["apiTokenInstance"] == MASK
    assert redacted["nested"] == [{"password": MASK}, {"Authorization": MASK}]
    assert redacted["count"] == 3
