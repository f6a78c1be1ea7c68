from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest

from reliability.dlq.exceptions import (
    DeadLetterNotFound,
    FingerprintAmbiguous,
    FingerprintNotFound,
    FingerprintPrefixInvalid,
)
from reliability.dlq.metrics import DeadLetterStateCollector
from reliability.dlq.models import DeadLetter
from reliability.dlq.selectors import (
    dead_letter_backlog_status,
    dead_letter_counts_by_status,
    dead_letter_counts_by_type,
    dead_letter_fingerprint_resolve,
    dead_letter_get,
    dead_letter_groups,
    dead_letter_ids,
    dead_letter_list,
    dead_letter_oldest_age_seconds,
    dead_letter_summary,
    dead_letter_to_dict,
)
from reliability.dlq.services import dead_letter_add
from reliability.errors import PermanentError, TransientError

pytestmark = pytest.mark.django_db


def add(message_type: str, error: Exception, age: timedelta = timedelta(0), status: str | None = None) -> DeadLetter:
    letter = dead_letter_add(message_type=message_type, payload={"n": 1}, error=error)
    changes = {"created_at": timezone.now() - age}
    if status:
        changes["status"] = status
    DeadLetter.objects.filter(pk=letter.pk).update(**changes)
    letter.refresh_from_db()
    return letter


@pytest.fixture
def letters():
    return [
        add("whatsapp_message", TransientError("chat 7900111 timed out"), timedelta(hours=3)),
        add("whatsapp_message", TransientError("chat 7900222 timed out"), timedelta(hours=1)),
        add("whatsapp_message", PermanentError("bad chat id")),
        add("sentiment_analysis", TransientError("deepseek 503"), timedelta(days=2), status="resolved"),
    ]


def test_counts_by_status_and_type(letters):
    assert dead_letter_counts_by_status() == {
        "pending": 2,
        "retrying": 0,
        "resolved": 1,
        "exhausted": 1,
        "discarded": 0,
    }
    assert dead_letter_counts_by_type() == {
        "sentiment_analysis": {"resolved": 1},
        "whatsapp_message": {"exhausted": 1, "pending": 2},
    }


def test_oldest_age_counts_only_letters_still_waiting(letters):
    age = dead_letter_oldest_age_seconds()
    assert timedelta(hours=3) <= timedelta(seconds=age) < timedelta(hours=3, minutes=1)
    DeadLetter.objects.update(status="resolved")
    assert dead_letter_oldest_age_seconds() is None


def test_filters_by_type_fingerprint_and_status(letters):
    timed_out = letters[0]
    assert set(dead_letter_list(fingerprint=timed_out.fingerprint)) == {letters[0], letters[1]}
    assert list(dead_letter_list(status="exhausted")) == [letters[2]]
    assert list(dead_letter_list(message_type="sentiment_analysis")) == [letters[3]]
    assert set(dead_letter_list(status=["pending", "exhausted"], message_type="whatsapp_message")) == set(letters[:3])
    assert list(dead_letter_list(search="BAD CHAT")) == [letters[2]]
    assert dead_letter_ids(message_type="whatsapp_message") == [letters[0].pk, letters[1].pk, letters[2].pk]
    assert dead_letter_ids(message_type="whatsapp_message", limit=1) == [letters[0].pk]


def letters_with_fingerprint(fingerprint: str, count: int = 1) -> None:
    DeadLetter.objects.bulk_create(
        DeadLetter(message_type="whatsapp_message", error_class="X", fingerprint=fingerprint) for _ in range(count)
    )


def test_a_unique_fingerprint_prefix_of_8_or_more_characters_names_its_fingerprint():
    wanted, other = "a09fdf7c" + "1" * 56, "b09fdf7c" + "2" * 56
    letters_with_fingerprint(wanted)
    letters_with_fingerprint(other)
    for prefix in ("a09fdf7c", "A09FDF7C", " a09fdf7c1111 ", wanted):
        assert dead_letter_fingerprint_resolve(prefix=prefix) == wanted


@pytest.mark.parametrize("prefix", ["a09fdf7", "", "a09fdf7g", "a09fdf7c\x00", "a09fdf7c-", "ä09fdf7c", "a" * 65])
def test_a_fingerprint_prefix_that_is_too_short_or_not_hexadecimal_is_refused(prefix):
    with pytest.raises(FingerprintPrefixInvalid, match="a fingerprint prefix is 8 to 64 hexadecimal characters"):
        dead_letter_fingerprint_resolve(prefix=prefix)


def test_a_fingerprint_prefix_nothing_matches_says_so():
    letters_with_fingerprint("b" * 64)
    with pytest.raises(FingerprintNotFound, match="no dead letter has a fingerprint starting with a09fdf7c"):
        dead_letter_fingerprint_resolve(prefix="a09fdf7c")


def test_an_ambiguous_fingerprint_prefix_lists_the_candidates_short_with_their_counts():
    letters_with_fingerprint("a09fdf7c1e2f" + "0" * 52, count=3)
    letters_with_fingerprint("a09fdf7c99aa" + "0" * 52)
    with pytest.raises(FingerprintAmbiguous) as caught:
        dead_letter_fingerprint_resolve(prefix="a09fdf7c")
    assert caught.value.candidates == [("a09fdf7c1e2f", 3), ("a09fdf7c99aa", 1)]
    assert str(caught.value) == (
        "fingerprint prefix a09fdf7c is ambiguous: a09fdf7c1e2f (3 letters), a09fdf7c99aa (1 letter); "
        "give more characters"
    )


def test_candidates_sharing_more_than_the_short_form_are_shown_long_enough_to_differ():
    letters_with_fingerprint("c" * 20 + "1" + "0" * 43)
    letters_with_fingerprint("c" * 20 + "2" + "0" * 43)
    with pytest.raises(FingerprintAmbiguous) as caught:
        dead_letter_fingerprint_resolve(prefix="c" * 16)
    assert [short for short, _ in caught.value.candidates] == ["c" * 20 + "1", "c" * 20 + "2"]


def test_groups_count_the_same_failure_once(letters):
    groups = dead_letter_groups()
    assert groups[0]["fingerprint"] == letters[0].fingerprint
    assert groups[0]["count"] == 2
    assert sum(group["count"] for group in groups) == 3


def test_summary_and_backlog_warnings(letters, settings):
    settings.DLQ_BACKLOG_WARN = 2
    settings.DLQ_OLDEST_AGE_WARN_SECONDS = 24 * 3600
    status = dead_letter_backlog_status()
    assert status["backlog"] == 3
    assert (status["backlog_warn"], status["oldest_age_warn"], status["warn"]) == (True, False, True)
    assert dead_letter_summary()["by_status"]["pending"] == 2


def test_get_returns_history_and_unknown_ids_raise(letters):
    data = dead_letter_to_dict(dead_letter_get(letter_id=letters[0].pk), with_history=True)
    assert data["history"][0]["outcome"] == "failed"
    assert data["first_error"]["message"] == "chat 7900111 timed out"
    for unknown in (123456, "x"):
        with pytest.raises(DeadLetterNotFound):
            dead_letter_get(letter_id=unknown)


def oldest_age(text: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith("dlq_oldest_pending_age_seconds ")]
    return float(line.split()[1])


def test_state_collector_reads_counts_and_oldest_age_at_scrape_time(letters):
    registry = CollectorRegistry()
    registry.register(DeadLetterStateCollector())
    text = generate_latest(registry).decode()
    assert 'dlq_messages_total{message_type="whatsapp_message",status="pending"} 2.0' in text
    assert 'dlq_messages_total{message_type="sentiment_analysis",status="resolved"} 1.0' in text
    assert oldest_age(text) >= 3 * 3600
    DeadLetter.objects.filter(status="pending").update(status="discarded")
    text = generate_latest(registry).decode()
    assert 'dlq_messages_total{message_type="whatsapp_message",status="discarded"} 2.0' in text
    assert oldest_age(text) < 60  # only the fresh exhausted letter still waits
