"""The report's numbers come from the real histories, cut to the period it covers."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.models import OutboundMessage, Trigger, WebhookEvent
from messaging.services.outbox import outbound_send
from messaging.services.pipeline import webhook_event_process
from reliability.breaker.breaker import get_circuit_breaker
from reliability.breaker.models import BreakerTransition
from reliability.breaker.services import breaker_force_open, breaker_reset
from reliability.degradation.models import DegradationEvent
from reliability.degradation.services import degradation_clear, degradation_set_level
from reliability.dlq.models import DeadLetter
from reliability.dlq.services import dead_letter_add, dead_letter_discard, dead_letter_replay
from reliability.errors import TransientError
from reliability.reports.services import reliability_report_build
from tests.integration.outbox.rows import stored
from tests.integration.reports.conftest import at, place
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def report(start: float, end: float) -> dict:
    return reliability_report_build(since=at(start), until=at(end))


def test_breaker_open_time_counts_every_state_that_turns_calls_away_cut_to_the_period(superuser):
    breaker = get_circuit_breaker("green_api")
    for _ in range(breaker.config.failure_threshold):
        with pytest.raises(TransientError):
            breaker.call(lambda: (_ for _ in ()).throw(TransientError("Green API sendMessage: 503")))
    breaker_reset(name="green_api", actor=superuser, channel="admin")
    breaker_force_open(name="green_api", actor=superuser, channel="admin", reason="maintenance")
    breaker_reset(name="green_api", actor=superuser, channel="admin")
    history = BreakerTransition.objects.filter(breaker__name="green_api")
    assert list(history.order_by("pk").values_list("to_state", "reason")) == [
        ("open", "consecutive_failures"),
        ("closed", "operator"),
        ("forced_open", "operator"),
        ("closed", "operator"),
    ]
    # open 10:05-10:15, closed, forced open 10:40-10:50, closed.
    place(history, "created_at", [at(5), at(15), at(40), at(50)])

    green = report(0, 60)["breakers"]["green_api"]
    assert green["open_seconds"] == 20 * 60
    assert green["open_ratio"] == pytest.approx(1 / 3, abs=1e-6)
    assert green["seconds_by_state"] == {"closed": 40 * 60, "forced_open": 10 * 60, "open": 10 * 60}
    assert (green["transitions"], green["opened"]) == (4, 2)
    assert green["transitions_by_reason"] == {"consecutive_failures": 1, "operator": 3}

    # A period that starts while the breaker is open counts from its start, in the state set before it.
    inside = report(10, 45)["breakers"]["green_api"]
    assert inside["seconds_by_state"] == {"open": 5 * 60, "closed": 25 * 60, "forced_open": 5 * 60}
    assert (inside["transitions"], inside["opened"]) == (2, 1)
    # Before any change: the state the first change left.
    assert report(0, 5)["breakers"]["green_api"]["seconds_by_state"] == {"closed": 5 * 60}
    # A breaker that never changed is closed throughout.
    assert report(0, 60)["breakers"]["deepseek"]["seconds_by_state"] == {"closed": 3600}


def test_dead_letters_in_out_and_the_oldest_waiting_at_the_end_of_the_period(handlers):
    handlers["report_test"] = lambda payload: "ok"
    letters = [
        dead_letter_add(message_type="report_test", payload={"n": n}, error=TransientError("503")) for n in range(4)
    ]
    dead_letter_replay(letter_id=letters[0].pk, actor=None, channel="system")
    dead_letter_discard(letter_ids=[letters[1].pk], reason="customer cancelled")
    queued = DeadLetter.objects.filter(pk__in=[letter.pk for letter in letters])
    # Added at 10:05, 10:10, 10:20 and 10:50; the first resolved at 10:30, the second discarded at 10:40.
    place(queued, "created_at", [at(5), at(10), at(20), at(50)])
    place(queued.filter(pk__in=[letters[0].pk, letters[1].pk]), "settled_at", [at(30), at(40)])
    for letter in queued:
        letter.history.filter(outcome="failed").update(attempted_at=letter.created_at)
        letter.history.filter(outcome="succeeded").update(attempted_at=letter.settled_at)

    whole = report(0, 60)["dead_letters"]
    assert (whole["added"], whole["resolved"], whole["discarded"], whole["out"]) == (4, 1, 1, 2)
    assert (whole["waiting_at_start"], whole["waiting_at_end"]) == (0, 2)
    assert whole["oldest_waiting_at_end"] == at(20).isoformat().replace("+00:00", "Z")
    assert whole["oldest_waiting_age_seconds"] == 40 * 60
    assert whole["by_type"]["report_test"] == {"added": 4, "resolved": 1, "discarded": 1, "waiting_at_end": 2}
    assert whole["replay_attempts"] == {"failed": 4, "succeeded": 1}

    later = report(35, 45)["dead_letters"]
    assert (later["added"], later["resolved"], later["discarded"]) == (0, 0, 1)
    assert (later["waiting_at_start"], later["waiting_at_end"]) == (2, 1)
    assert later["oldest_waiting_at_end"] == at(20).isoformat().replace("+00:00", "Z")


def test_time_at_each_degradation_level_from_the_events(superuser):
    degradation_set_level(level="moderate", reason="Green API maintenance", actor=superuser, channel="admin")
    degradation_set_level(level="severe", reason="worse", actor=superuser, channel="admin")
    degradation_clear(reason="maintenance over", actor=superuser, channel="admin")
    events = DegradationEvent.objects.all()
    assert list(events.order_by("pk").values_list("from_level", "to_level")) == [(0, 2), (2, 3), (3, 0)]
    place(events, "created_at", [at(10), at(20), at(50)])

    levels = report(0, 60)["degradation"]
    assert levels["seconds_by_level"] == {
        "normal": 20 * 60,
        "minor": 0,
        "moderate": 10 * 60,
        "severe": 30 * 60,
        "critical": 0,
    }
    assert (levels["highest_level"], levels["changes"], levels["changes_by_source"]) == ("severe", 3, {"operator": 3})
    assert report(25, 35)["degradation"]["seconds_by_level"]["severe"] == 10 * 60


def test_messages_in_replies_out_and_reply_latency_percentiles(deepseek, green_api):
    Trigger.objects.create(name="order", keywords=["order"], reply_template="We are on it")
    for n in range(10):
        event = stored(bodies.incoming_text("Where is my order?", id_message=f"IN{n:04d}"))
        assert webhook_event_process(event_id=event.pk) == "replied"
    for row in OutboundMessage.objects.order_by("pk"):
        assert outbound_send(outbound_id=row.pk).outcome == "sent"
    # Arrivals one a minute from 10:00; replies accepted 1, 2, ... 10 seconds after each.
    place(WebhookEvent.objects.all(), "received_at", [at(n) for n in range(10)])
    place(OutboundMessage.objects.all(), "sent_at", [at(n) + dt.timedelta(seconds=n + 1) for n in range(10)])

    messaging = report(0, 60)["sections"]["messaging"]
    assert (messaging["messages_in"], messaging["replies_out"], messaging["messages_out"]) == (10, 10, 10)
    assert messaging["reply_latency_seconds"] == {
        "count": 10,
        "avg": 5.5,
        "max": 10.0,
        "p50": 5.0,
        "p90": 9.0,
        "p99": 10.0,
    }
    # Arrivals count by arrival, replies by acceptance: 10:05:00 to 10:08:00 sees in 5, 6, 7 and out 4, 5, 6.
    window = reliability_report_build(since=at(5), until=at(8))["sections"]["messaging"]
    assert (window["messages_in"], window["replies_out"]) == (3, 3)


def test_a_year_costs_the_same_queries_as_an_hour(superuser):
    for _ in range(3):
        breaker_force_open(name="deepseek", actor=superuser, channel="admin")
        breaker_reset(name="deepseek", actor=superuser, channel="admin")
    until = timezone.now() + dt.timedelta(minutes=1)
    with CaptureQueriesContext(connection) as hour:
        reliability_report_build(since=until - dt.timedelta(hours=1), until=until)
    for _ in range(20):
        breaker_force_open(name="deepseek", actor=superuser, channel="admin")
        breaker_reset(name="deepseek", actor=superuser, channel="admin")
    with CaptureQueriesContext(connection) as year:
        built = reliability_report_build(since=until - dt.timedelta(days=365), until=until)
    assert len(year.captured_queries) == len(hour.captured_queries)
    assert built["breakers"]["deepseek"]["transitions"] == 46
