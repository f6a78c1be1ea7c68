"""Sentiment of a message: DeepSeek when it may be used, else a local lexicon, marked degraded.

The fallback is VADER (``vaderSentiment``): a rule-based lexicon that needs no network
and no model download, tuned for short social-media text. It reads English; for other
languages it mostly answers neutral, which is the honest answer of a fallback that
does not understand the text. Its ``compound`` score (-1..1) maps onto our labels with
VADER's own thresholds (>= 0.05 positive, <= -0.05 negative).

Numbers are left out before VADER reads the text: its lexicon holds chat slang written in
digits ("143" is "I love you", "187" and "86" are threats), so "my order 143 never
arrived" came out positive and "order 187 arrived, thanks" negative. Customers write
order numbers, prices and house numbers, never that slang; emoticons with a digit
("<3", "8)") are not numbers and stay.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

import structlog
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from messaging.clients.deepseek import get_sync_deepseek_client
from reliability.degradation.metrics import fallback_usage
from reliability.errors import CircuitOpenError

logger = structlog.get_logger(__name__)

FALLBACK_MODEL = "vader"
# VADER's cost grows with length; a long message's first part carries its tone.
FALLBACK_MAX_CHARS = 5_000
# A word that is a number (order 143, #187, 86.): two digits or more, sentence punctuation after.
_NUMBER = re.compile(r"(?<!\S)#?\d{2,}[.,!?%]*(?!\S)")
POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05


@dataclass(frozen=True)
class SentimentOutcome:
    label: str
    score: float
    source: str  # "deepseek" | "fallback"
    model: str  # the DeepSeek model, or the fallback's name ("vader")
    latency_ms: float
    degraded: bool  # True when the fallback answered
    error_class: str = ""  # why DeepSeek was not used ("" when it was)


def sentiment_analyze(*, text: str, allow_ai: bool = True) -> SentimentOutcome:
    """DeepSeek when ``allow_ai`` and its breaker admits the call; the lexicon fallback
    when the breaker is open, the call fails for any reason, or ``allow_ai`` is False.
    Never raises for a DeepSeek failure."""
    if not allow_ai:
        return _fallback(text, reason="not_allowed", error_class="")
    try:
        score = get_sync_deepseek_client().analyze_sentiment(text)
    except CircuitOpenError as exc:
        return _fallback(text, reason="circuit_open", error_class=type(exc).__name__)
    except Exception as exc:  # noqa: BLE001 - any failure of the AI path means the fallback answers
        logger.warning("sentiment_fallback", service="deepseek", error_class=type(exc).__name__, error=str(exc))
        return _fallback(text, reason="failed", error_class=type(exc).__name__)
    return SentimentOutcome(
        label=score.label,
        score=score.score,
        source="deepseek",
        model=score.model,
        latency_ms=score.latency_ms,
        degraded=False,
    )


@functools.cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def fallback_sentiment(text: str) -> tuple[str, float]:
    """``(label, score)`` from the local lexicon; any string works, empty is neutral."""
    words = _NUMBER.sub(" ", text[:FALLBACK_MAX_CHARS])
    compound = float(_analyzer().polarity_scores(words)["compound"]) if words.strip() else 0.0
    if compound >= POSITIVE_THRESHOLD:
        return "positive", compound
    if compound <= NEGATIVE_THRESHOLD:
        return "negative", compound
    return "neutral", compound


def _fallback(text: str, *, reason: str, error_class: str) -> SentimentOutcome:
    started = time.monotonic()
    label, score = fallback_sentiment(text if isinstance(text, str) else "")
    fallback_usage.labels(service="deepseek", reason=reason).inc()
    return SentimentOutcome(
        label=label,
        score=score,
        source="fallback",
        model=FALLBACK_MODEL,
        latency_ms=(time.monotonic() - started) * 1000,
        degraded=True,
        error_class=error_class,
    )
