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


def test_the_label_follows_the_score_thresholds():
    for text in ("good", "bad", "fine", "awful", "love it", "meh"):
        label, score = fallback_sentiment(text)
        assert label == ("positive" if score >= 0.05 else "negative" if score <= -0.05 else "neutral")


def test_long_texts_are_read_only_up_to_the_cap():
    # VADER's cost grows faster than the text; the cap bounds it.
    text = "this is great " * 500 + "this is terrible, awful, the worst " * 500
    assert fallback_sentiment(text) == fallback_sentiment(text[:FALLBACK_MAX_CHARS])
    assert fallback_sentiment(text)[0] == "positive"
