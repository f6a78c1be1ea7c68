"""The local lexicon that answers when DeepSeek may not or cannot."""

from __future__ import annotations

import pytest

from messaging.sentiment import FALLBACK_MAX_CHARS, fallback_sentiment


@pytest.mark.parametrize(
    "text, label",
    [
        ("Thank you, great service!", "positive"),
        ("This is terrible, I want my money back", "negative"),
        ("The parcel is at the post office", "neutral"),
        ("", "neutral"),
        ("\x00\x00", "neutral"),
        ("Заказ не пришёл", "neutral"),  # VADER reads English only: honest neutral
    ],
)
def test_fallback_labels(text, label):
    found, score = fallback_sentiment(text)
    assert found == label
    assert -1.0 <= score <= 1.0


@pytest.mark.parametrize(
    "text, label",
    [
        ("This is terrible, my order 143 never arrived", "negative"),  # VADER's lexicon: "143" = "I love you"
        ("Order 187 arrived, thanks", "positive"),  # "187": a threat
        ("Table 182 is ready", "positive"),  # as "Table is ready": "182" was -2.9
        ("My order 1337 is late", "neutral"),
    ],
)
def test_numbers_in_a_message_are_not_read_as_chat_slang(text, label):
    assert fallback_sentiment(text)[0] == label


def test_emoticons_with_digits_still_count():
    assert fallback_sentiment("see you soon <3")[0] == "positive"
    assert fallback_sentiment("thanks 8)")[0] == "positive"


def test_the_label_follows_the_score_thresholds():
    for text in ("good", "bad", "fine", "awful", "love it", "meh"):
        label, score = fallback_sentiment(text)
        assert label == ("positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral")


def test_long_texts_are_read_only_up_to_the_cap():
    # VADER's cost grows faster than the text; the cap bounds it.
    text = "this is great " * 500 + "this is terrible, awful, the worst " * 500
    assert fallback_sentiment(text) == fallback_sentiment(text[:FALLBACK_MAX_CHARS])
    assert fallback_sentiment(text)[0] == "positive"
