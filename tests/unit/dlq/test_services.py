from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from reliability.audit import AuditRecord
from reliability.dlq import services
from reliability.dlq.exceptions import DeadLetterNotFound, DeadLetterStateError
from reliability.dlq.models import DeadLetter, DeadLetterAttempt, DeadLetterStatus, FailureKind
from reliability.dlq.services import (
    dead_letter_add,
    dead_letter_discard,
    dead_letter_replay,
    dead_letter_replay_batch,
    dead_letter_replay_many,
    dead_letter_resolve,
    dlq_handler,
    get_failed_message_processor,
)
from reliability.errors import CircuitOpenError, PermanentError, RateLimited, TransientError

pytestmark = pytest.mark.django_db

TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345"
GREEN_URL = f"https://api.green-api.com/waInstance1101000001/sendMessage/{TOKEN}"


def add(message_type="whatsapp_message", error=None, **kwargs) -> DeadLetter:
    return dead_letter_add(
        message_type=message_type,
        payload=kwargs.pop("payload", {"chatId": "79001234567@c.us", "message": "hi"}),
        error=error or TransientError("green api timed out"),
        **kwargs,
    )


def history(letter: DeadLetter) -> list[tuple[str, str]]:
    return list(DeadLetterAttempt.objects.filter(letter=letter).values_list("outcome", "failure_kind"))


def test_seed_add_to_dlq_returns_the_id_of_a_pending_letter_with_its_first_failure():
    letter_id = dlq_handler.add_to_dlq(
        message_data={"type": "test", "content": "message"},
        error=TransientError("Processing failed"),
        message_type="whatsapp_message",
        max_retries=5,
        source="messaging.send_message",
    )
    letter = DeadLetter.objects.get(pk=letter_id)
    assert letter.status == DeadLetterStatus.PENDING
    assert letter.failure_kind == FailureKind.TRANSIENT
    assert letter.attempts == 0 and letter.max_retries == 5
    assert letter.source == "messaging.send_message"
    assert letter.next_retry_at > timezone.now()
    assert letter.first_error["message"] == "Processing failed"
    assert letter.first_error["error_class"] == "reliability.errors.TransientError"
    assert history(letter) == [("failed", "transient")]


def test_add_redacts_payload_message_and_traceback_before_storing():
    try:
        raise TransientError(f"500 Server Error for url: {GREEN_URL}")
    except TransientError as exc:
        error = exc
    letter = add(error=error, payload={"apiTokenInstance": TOKEN, "url": GREEN_URL, "nested": [{"password": "pw"}]})
    row = DeadLetter.objects.filter(pk=letter.pk).values().get()
    assert TOKEN not in repr(row)
    assert "pw" not in repr(row["payload"])
    assert row["payload"]["apiTokenInstance"] == "[REDACTED]"
    assert "sendMessage/[REDACTED]" in row["error_message"]
    assert "Traceback" in row["traceback"] and "sendMessage/[REDACTED]" in row["traceback"]
    assert TOKEN not in repr(list(DeadLetterAttempt.objects.filter(letter=letter).values()))


def test_add_redacts_what_payload_objects_say_when_they_become_text():
    class Request:
        def __str__(self) -> str:
            return f"<PreparedRequest POST {GREEN_URL}>"

    letter = add(payload={"request": Request(), "body": f"apiTokenInstance={TOKEN}".encode(), "tags": {GREEN_URL}})
    stored = repr(DeadLetter.objects.filter(pk=letter.pk).values_list("payload", flat=True).get())
    assert TOKEN not in stored
    assert "<PreparedRequest POST https://api.green-api.com/waInstance1101000001/sendMessage/[REDACTED]>" in stored


def test_add_keeps_payloads_that_json_cannot_encode_as_text():
    letter = add(payload={"when": timezone.now(), "items": ("a", "b")})
    assert isinstance(letter.payload["when"], str)
    assert letter.payload["items"] == ["a", "b"]


def test_permanent_failure_is_exhausted_at_once():
    letter = add(error=PermanentError("invalid chat id"))
    assert letter.status == DeadLetterStatus.EXHAUSTED
    assert letter.next_retry_at is None
    assert history(letter) == [("exhausted", "permanent")]


def test_rate_limited_letter_waits_for_retry_after():
    before = timezone.now()
    letter = add(error=RateLimited(retry_after=120))
    assert letter.failure_kind == FailureKind.RATE_LIMITED
    assert letter.next_retry_at >= before + timedelta(seconds=120)


def test_breaker_open_letter_waits_for_the_breaker_and_remembers_it():
    before = timezone.now()
    letter = add(error=CircuitOpenError("green_api", 45.0))
    assert letter.breaker_name == "green_api"
    assert before + timedelta(seconds=45) <= letter.next_retry_at <= timezone.now() + timedelta(seconds=45)


def test_replay_batch_resolves_letters_whose_handler_succeeds(handlers, make_due):
    seen = []
    handlers["whatsapp_message"] = seen.append
    letter = add()
    make_due(letter)
    stats = dead_letter_replay_batch(batch_size=10)
    letter.refresh_from_db()
    assert stats["claimed"] == 1 and stats["resolved"] == 1
    assert seen == [letter.payload]
    assert letter.status == DeadLetterStatus.RESOLVED and letter.settled_at is not None
    assert letter.attempts == 1
    assert history(letter) == [("failed", "transient"), ("succeeded", "")]


def test_replay_batch_leaves_letters_that_are_not_due(handlers):
    handlers["whatsapp_message"] = lambda payload: None
    add()
    assert dead_letter_replay_batch(batch_size=10)["claimed"] == 0


def test_replay_while_the_breaker_is_open_spends_no_attempt(handlers, make_due):
    def breaker_open(payload):
        raise CircuitOpenError("green_api", 30.0)

    handlers["whatsapp_message"] = breaker_open
    letter = add()
    for _ in range(3):
        make_due(letter)
        before = timezone.now()
        assert dead_letter_replay_batch(batch_size=10)["deferred"] == 1
        letter.refresh_from_db()
        assert letter.attempts == 0
        assert letter.status == DeadLetterStatus.PENDING
        assert letter.next_retry_at >= before + timedelta(seconds=30)
        assert letter.breaker_name == "green_api"
    assert [outcome for outcome, _ in history(letter)] == ["failed", "deferred", "deferred", "deferred"]


def test_letter_is_exhausted_after_max_retries(handlers, make_due):
    def flaky(payload):
        raise TransientError("still down")

    handlers["whatsapp_message"] = flaky
    letter = add(max_retries=3)
    outcomes = []
    for _ in range(3):
        make_due(letter)
        outcomes.append(dead_letter_replay_batch(batch_size=10))
    letter.refresh_from_db()
    assert [s["failed"] for s in outcomes] == [1, 1, 0]
    assert outcomes[-1]["exhausted"] == 1
    assert letter.status == DeadLetterStatus.EXHAUSTED and letter.attempts == 3
    assert letter.first_error["message"] == "green api timed out"
    assert letter.error_message == "still down"
    make_due(letter)
    assert dead_letter_replay_batch(batch_size=10)["claimed"] == 0


def test_permanent_failure_on_replay_exhausts_at_once(handlers, make_due):
    def invalid(payload):
        raise PermanentError("chat does not exist")

    handlers["whatsapp_message"] = invalid
    letter = add(max_retries=5)
    make_due(letter)
    dead_letter_replay_batch(batch_size=10)
    letter.refresh_from_db()
    assert (letter.status, letter.attempts, letter.failure_kind) == ("exhausted", 1, "permanent")


def test_rate_limited_replay_waits_for_retry_after(handlers, make_due):
    def throttled(payload):
        raise RateLimited(retry_after=90)

    handlers["whatsapp_message"] = throttled
    letter = add()
    make_due(letter)
    before = timezone.now()
    dead_letter_replay_batch(batch_size=10)
    letter.refresh_from_db()
    assert letter.status == DeadLetterStatus.PENDING and letter.attempts == 1
    assert letter.next_retry_at >= before + timedelta(seconds=90)


def test_missing_handler_counts_as_a_failed_attempt(make_due):
    letter = add(message_type="nobody_handles_this")
    make_due(letter)
    assert dead_letter_replay_batch(batch_size=10)["failed"] == 1
    letter.refresh_from_db()
    assert letter.error_class == "reliability.dlq.exceptions.NoHandlerRegistered"


def test_replay_rate_limit_per_type_puts_the_excess_back_without_spending_attempts(settings, handlers, make_due):
    settings.DLQ_REPLAY_RATE_PER_TYPE = 2.0
    handlers["whatsapp_message"] = lambda payload: None
    letters = [add() for _ in range(5)]
    for letter in letters:
        make_due(letter)
    stats = dead_letter_replay_batch(batch_size=10)
    assert (stats["resolved"], stats["released"]) == (2, 3)
    put_back = DeadLetter.objects.filter(status=DeadLetterStatus.PENDING)
    assert put_back.count() == 3
    assert all(letter.attempts == 0 and letter.next_retry_at > timezone.now() for letter in put_back)


def test_a_crashed_workers_claim_is_taken_back_after_its_lease(handlers):
    handlers["whatsapp_message"] = lambda payload: None
    letter = add()
    # What a worker killed mid-replay leaves: retrying, an attempt spent, a lease that ran out.
    DeadLetter.objects.filter(pk=letter.pk).update(
        status=DeadLetterStatus.RETRYING, attempts=1, next_retry_at=timezone.now() - timedelta(seconds=1)
    )
    assert dead_letter_replay_batch(batch_size=10)["resolved"] == 1
    letter.refresh_from_db()
    assert letter.status == DeadLetterStatus.RESOLVED and letter.attempts == 2
    assert [o for o, _ in history(letter)] == ["failed", "failed", "succeeded"]


def test_a_live_claim_is_not_taken_by_another_worker(handlers):
    handlers["whatsapp_message"] = lambda payload: None
    letter = add()
    DeadLetter.objects.filter(pk=letter.pk).update(
        status=DeadLetterStatus.RETRYING, attempts=1, next_retry_at=timezone.now() + timedelta(seconds=60)
    )
    assert dead_letter_replay_batch(batch_size=10)["claimed"] == 0
    with pytest.raises(DeadLetterStateError):
        dead_letter_replay(letter_id=letter.pk)


def test_reclaimed_letter_with_no_attempt_left_is_exhausted_not_run(handlers):
    ran = []
    handlers["whatsapp_message"] = ran.append
    letter = add(max_retries=2)
    DeadLetter.objects.filter(pk=letter.pk).update(
        status=DeadLetterStatus.RETRYING, attempts=2, next_retry_at=timezone.now() - timedelta(seconds=1)
    )
    assert dead_letter_replay_batch(batch_size=10)["exhausted"] == 1
    letter.refresh_from_db()
    assert (letter.status, letter.attempts, ran) == ("exhausted", 2, [])


def test_outcome_of_a_worker_that_lost_its_lease_is_dropped(handlers, make_due):
    def slow_then_reclaimed(payload):
        # Another worker reclaims the letter while this one is still in the handler.
        DeadLetter.objects.filter(pk=letter.pk).update(next_retry_at=timezone.now() + timedelta(hours=1))

    handlers["whatsapp_message"] = slow_then_reclaimed
    letter = add()
    make_due(letter)
    assert dead_letter_replay_batch(batch_size=10)["lost_lease"] == 1
    letter.refresh_from_db()
    assert letter.status == DeadLetterStatus.RETRYING


def test_operator_replay_runs_now_and_writes_an_audit_record(handlers, superuser):
    handlers["whatsapp_message"] = lambda payload: None
    letter = add()
    result = dead_letter_replay(letter_id=letter.pk, actor=superuser, channel="admin")
    assert result.resolved
    record = AuditRecord.objects.get()
    assert (record.action, record.target_id, record.actor_label) == ("dead_letter.replay", str(letter.pk), "admin:root")


def test_operator_replay_gives_an_exhausted_letter_one_more_attempt(handlers):
    handlers["whatsapp_message"] = lambda payload: None
    letter = add(error=PermanentError("bad input, since fixed"))
    assert dlq_handler.retry_message(letter.pk) is True
    letter.refresh_from_db()
    assert letter.status == DeadLetterStatus.RESOLVED


def test_replaying_a_resolved_letter_is_refused(handlers):
    handlers["whatsapp_message"] = lambda payload: None
    letter = add()
    dead_letter_replay(letter_id=letter.pk)
    with pytest.raises(DeadLetterStateError, match="resolved"):
        dead_letter_replay(letter_id=letter.pk)


# (status, lease end relative to now or None, may an operator act on it?)
OPERATOR_STATES = {
    "pending": (DeadLetterStatus.PENDING, 3600, True),
    "exhausted": (DeadLetterStatus.EXHAUSTED, None, True),
    "retrying, its lease expired (worker lost)": (DeadLetterStatus.RETRYING, -1, True),
    "retrying under a live lease": (DeadLetterStatus.RETRYING, 60, False),
    "resolved": (DeadLetterStatus.RESOLVED, None, False),
    "discarded": (DeadLetterStatus.DISCARDED, None, False),
}


@pytest.mark.parametrize("action", ["replay", "replay_many", "discard", "resolve"])
@pytest.mark.parametrize(("status", "lease", "allowed"), list(OPERATOR_STATES.values()), ids=list(OPERATOR_STATES))
def test_every_operator_action_follows_the_one_rule_of_which_letters_may_be_acted_on(
    handlers, action, status, lease, allowed
):
    handlers["whatsapp_message"] = lambda payload: None
    letter = add()
    next_retry_at = timezone.now() + timedelta(seconds=lease) if lease is not None else None
    DeadLetter.objects.filter(pk=letter.pk).update(status=status, next_retry_at=next_retry_at)
    ids = [letter.pk]
    if action == "replay":
        if allowed:
            assert dead_letter_replay(letter_id=letter.pk, channel="cli").resolved
        else:
            with pytest.raises(DeadLetterStateError, match=f"is {status}: cannot replay it"):
                dead_letter_replay(letter_id=letter.pk, channel="cli")
    else:
        run = {"replay_many": dead_letter_replay_many, "discard": dead_letter_discard, "resolve": dead_letter_resolve}
        extra = {"reason": "operator"} if action != "replay_many" else {}
        result = run[action](letter_ids=ids, channel="cli", **extra)
        assert result.skipped == ([] if allowed else ids)
        verb = "replay" if action == "replay_many" else action
        assert result.planned[letter.pk] == (verb if allowed else f"skip: {status}")
    letter.refresh_from_db()
    expected = {"replay": "resolved", "replay_many": "resolved", "discard": "discarded", "resolve": "resolved"}
    assert letter.status == (expected[action] if allowed else status)
    assert AuditRecord.objects.count() == (1 if allowed else 0)


@pytest.mark.parametrize("letter_id", [999_999, "abc", None])
def test_unknown_id_raises_dead_letter_not_found(letter_id):
    with pytest.raises(DeadLetterNotFound):
        dead_letter_replay(letter_id=letter_id)
    with pytest.raises(DeadLetterNotFound):
        dlq_handler.retry_message(letter_id)


def test_bulk_action_with_an_unknown_id_changes_nothing():
    letter = add()
    with pytest.raises(DeadLetterNotFound) as caught:
        dead_letter_discard(letter_ids=[letter.pk, 424242], reason="spam", channel="cli")
    assert caught.value.letter_ids == [424242]
    letter.refresh_from_db()
    assert letter.status == DeadLetterStatus.PENDING


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_discard_without_a_reason_is_refused(reason):
    letter = add()
    with pytest.raises(ValueError, match="reason"):
        dead_letter_discard(letter_ids=[letter.pk], reason=reason, channel="cli")
    letter.refresh_from_db()
    assert letter.status == DeadLetterStatus.PENDING
    assert not AuditRecord.objects.exists()


def test_discard_settles_open_letters_skips_settled_ones_and_audits_each(superuser):
    open_letter, exhausted = add(), add(error=PermanentError("nope"))
    resolved = add()
    dead_letter_resolve(letter_ids=[resolved.pk], channel="cli")
    result = dead_letter_discard(
        letter_ids=[open_letter.pk, exhausted.pk, resolved.pk], reason="customer left", actor=superuser, channel="api"
    )
    assert result.count == 2
    assert result.skipped == [resolved.pk]
    assert result.planned[resolved.pk] == "skip: resolved"
    for letter in (open_letter, exhausted):
        letter.refresh_from_db()
        assert (letter.status, letter.settled_by, letter.settled_reason) == ("discarded", superuser, "customer left")
        assert letter.next_retry_at is None
    assert AuditRecord.objects.filter(action="dead_letter.discard", reason="customer left").count() == 2


def test_dry_run_says_what_would_happen_and_changes_nothing(handlers):
    ran = []
    handlers["whatsapp_message"] = ran.append
    letters = [add(), add(), add(error=PermanentError("nope"))]
    ids = [letter.pk for letter in letters]
    discard = dead_letter_discard(letter_ids=ids, reason="cleanup", channel="cli", dry_run=True)
    replay = dead_letter_replay_many(letter_ids=ids, channel="cli", dry_run=True)
    assert (discard.count, replay.count) == (3, 3)
    assert set(replay.planned.values()) == {"replay"}
    assert ran == []
    assert set(DeadLetter.objects.values_list("status", flat=True)) == {"pending", "exhausted"}
    assert not AuditRecord.objects.exists()


def test_replay_many_reports_failures_and_respects_the_rate(handlers):
    def fail_odd(payload):
        if payload["n"] % 2:
            raise TransientError("odd")

    handlers["whatsapp_message"] = fail_odd
    letters = [add(payload={"n": n}) for n in range(3)]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        time.sleep(seconds)

    result = dead_letter_replay_many(letter_ids=[letter.pk for letter in letters], channel="cli", rate=2.0, sleep=sleep)
    assert [r.outcome for r in result.results] == ["resolved", "failed", "resolved"]
    assert result.failed == [letters[1].pk]
    assert 0.3 < sum(sleeps) < 1.0, "a rate of 2/s holds the third letter back about half a second"
    assert AuditRecord.objects.filter(action="dead_letter.replay").count() == 3


def test_seed_processors_replay_due_letters(handlers, make_due):
    handlers["whatsapp_message"] = lambda payload: None
    first, second = add(), add()
    make_due(first)
    make_due(second)
    assert dlq_handler.process_dlq_batch(batch_size=1)["resolved"] == 1
    assert get_failed_message_processor().process_dlq_with_strategies(batch_size=20)["resolved"] == 1
    assert dlq_handler.get_dlq_messages(limit=10, status="resolved")[0]["status"] == "resolved"


def test_cleanup_deletes_only_settled_letters_older_than_the_retention(settings):
    settings.DLQ_RETENTION_DAYS = 7
    old = timezone.now() - timedelta(days=8)
    letters = {status: add() for status in ("pending", "retrying", "exhausted", "resolved", "discarded")}
    for status, letter in letters.items():
        DeadLetter.objects.filter(pk=letter.pk).update(status=status, settled_at=old, updated_at=old, created_at=old)
    fresh = add()
    DeadLetter.objects.filter(pk=fresh.pk).update(status="resolved", settled_at=timezone.now())
    assert services.dead_letter_cleanup() == 2
    remaining = set(DeadLetter.objects.values_list("status", flat=True))
    assert remaining == {"pending", "retrying", "exhausted", "resolved"}
    assert DeadLetter.objects.filter(pk=fresh.pk).exists()
    assert not DeadLetterAttempt.objects.filter(letter_id__in=[letters["resolved"].pk]).exists()


def test_letters_whose_lease_runs_short_are_given_back_not_started(settings, handlers, make_due):
    settings.DLQ_CLAIM_LEASE_SECONDS = 0.4
    ran = []

    def slow(payload):
        ran.append(payload["n"])
        time.sleep(0.35)

    handlers["whatsapp_message"] = slow
    letters = [add(payload={"n": n}) for n in range(3)]
    for letter in letters:
        make_due(letter)
    stats = dead_letter_replay_batch(batch_size=10)
    assert (stats["resolved"], stats["released"], ran) == (1, 2, [0])
    given_back = DeadLetter.objects.filter(status=DeadLetterStatus.PENDING)
    assert sorted(letter.attempts for letter in given_back) == [0, 0]
