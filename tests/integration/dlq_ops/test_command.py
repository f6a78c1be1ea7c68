"""``manage.py dlq``: tables for reading, snapshots for acting, exit codes 0 / 1 / 2."""

from __future__ import annotations

import getpass
import logging
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from reliability.audit import AuditRecord
from reliability.breaker.breaker import forget_circuit_breakers
from reliability.dlq.models import DeadLetter, DeadLetterStatus
from reliability.errors import TransientError

pytestmark = pytest.mark.django_db


def dlq(*args: str) -> str:
    """Run the command in-process; returns stdout, raises CommandError on a non-zero exit."""
    out = StringIO()
    call_command("dlq", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def dlq_exit(*args: str) -> tuple[int, str]:
    try:
        dlq(*args)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, ""


def manage_dlq(*args: str) -> subprocess.CompletedProcess[str]:
    """The command as on-call runs it: a real process on the test database."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    return subprocess.run(
        [sys.executable, "manage.py", "dlq", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def statuses(*letters: DeadLetter) -> list[str]:
    return [DeadLetter.objects.get(pk=letter.pk).status for letter in letters]


# --- Reading -------------------------------------------------------------------------------------


def test_list_prints_a_table_filtered_by_status_and_type(make_letter):
    pending = make_letter()
    exhausted = make_letter(message_type="sentiment_analysis")
    DeadLetter.objects.filter(pk=exhausted.pk).update(status=DeadLetterStatus.EXHAUSTED)

    everything = dlq("list").splitlines()
    assert everything[0].split() == [
        "ID", "TYPE", "STATUS", "ATTEMPTS", "FINGERPRINT", "ERROR", "AGE", "NEXT", "RETRY", "MESSAGE",
    ]  # fmt: skip
    assert len(everything) == 4  # header, rule, two rows
    assert everything[3].split()[4] == pending.fingerprint[:12]
    only_exhausted = dlq("list", "--status", "exhausted")
    assert only_exhausted.splitlines()[2].split()[:3] == [str(exhausted.pk), "sentiment_analysis", "exhausted"]
    assert "ops_test_message" not in only_exhausted
    assert str(pending.pk) in dlq("list", "--type", "ops_test_message", "--limit", "1")
    assert dlq("list", "--fingerprint", pending.fingerprint[:12]).count("ops_test_message") == 1


def test_show_prints_fields_payload_and_history(make_letter):
    letter = make_letter(note="hello")
    text = dlq("show", str(letter.pk))
    assert f"id            {letter.pk}" in text
    assert '"note": "hello"' in text
    assert "First failure:" in text and "Traceback:" in text
    assert "History:" in text and "reliability.errors.TransientError" in text


def test_show_of_an_unknown_id_exits_2(make_letter):
    assert dlq_exit("show", "999999") == (2, "dead letter not found: #999999")
    assert dlq_exit("show", "abc") == (2, "not a dead letter id: 'abc'")


# --- Replay -----------------------------------------------------------------------------------------


def test_replay_by_ids_resolves_them_audits_with_the_os_user_and_exits_0(make_letter, handler):
    letters = [make_letter() for _ in range(2)]
    bystander = make_letter()

    out = dlq("replay", *(str(x.pk) for x in letters))

    assert "Replay: 2 resolved, 0 failed, 0 skipped (of 2)" in out
    assert statuses(*letters, bystander) == ["resolved", "resolved", "pending"]
    labels = set(AuditRecord.objects.filter(action="dead_letter.replay").values_list("actor_label", flat=True))
    assert labels == {f"cli:{getpass.getuser()}"}


def test_a_failing_replay_exits_1(make_letter, handler):
    ok, failing = make_letter(), make_letter(fail=True)
    code, message = dlq_exit("replay", str(ok.pk), str(failing.pk))
    assert code == 1
    assert message == f"1 of 2 letters were not replayed: #{failing.pk}"
    assert statuses(ok, failing) == ["resolved", "pending"]


def test_replay_by_type_takes_a_snapshot_and_respects_the_limit(make_letter, handler):
    letters = [make_letter() for _ in range(3)]
    other = make_letter(message_type="sentiment_analysis")

    dlq("replay", "--type", "ops_test_message", "--limit", "2")

    assert statuses(*letters, other) == ["resolved", "resolved", "pending", "pending"]  # oldest first


def test_replay_by_fingerprint_dry_run_changes_nothing(make_letter, handler):
    group = [make_letter() for _ in range(2)]
    make_letter(error=TransientError("something else"))

    out = dlq("replay", "--fingerprint", group[0].fingerprint, "--dry-run")

    assert "Dry run: would replay 2 of 2, skip 0. Nothing was changed." in out
    assert handler.calls == [] and statuses(*group) == ["pending", "pending"]
    assert not AuditRecord.objects.exists()


def test_replay_by_the_short_fingerprint_that_list_shows(make_letter, handler):
    group = [make_letter() for _ in range(2)]
    other = make_letter(error=TransientError("something else"))
    short = dlq("list", "--type", "ops_test_message").splitlines()[-1].split()[4]  # the oldest
    assert short == group[0].fingerprint[:12]

    out = dlq("replay", "--fingerprint", short[:8])

    assert "Replay: 2 resolved, 0 failed, 0 skipped (of 2)" in out
    assert statuses(*group, other) == ["resolved", "resolved", "pending"]


def test_a_fingerprint_prefix_that_matches_nothing_exits_2_and_says_so(make_letter, handler):
    make_letter()
    assert dlq_exit("replay", "--fingerprint", "a09fdf7c", "--dry-run") == (
        2,
        "no dead letter has a fingerprint starting with a09fdf7c",
    )
    assert handler.calls == []


def test_an_ambiguous_fingerprint_prefix_exits_2_listing_the_candidates(make_letter, handler):
    letter = make_letter()
    DeadLetter.objects.filter(pk=letter.pk).update(fingerprint="a09fdf7c1e2f" + "0" * 52)
    DeadLetter.objects.create(message_type="x", error_class="E", fingerprint="a09fdf7c99aa" + "0" * 52)
    code, message = dlq_exit("replay", "--fingerprint", "a09fdf7c")
    assert code == 2
    assert message == (
        "fingerprint prefix a09fdf7c is ambiguous: a09fdf7c1e2f (1 letter), a09fdf7c99aa (1 letter); "
        "give more characters"
    )
    assert handler.calls == []
    assert dlq("replay", "--fingerprint", "a09fdf7c1e").count("resolved") >= 1


def test_a_fingerprint_prefix_shorter_than_8_characters_exits_2(make_letter):
    letter = make_letter()
    assert dlq_exit("list", "--fingerprint", letter.fingerprint[:7]) == (
        2,
        f"a fingerprint prefix is 8 to 64 hexadecimal characters, not '{letter.fingerprint[:7]}'",
    )


def test_replay_all_with_a_rate(make_letter, handler):
    letters = [make_letter() for _ in range(3)]
    DeadLetter.objects.filter(pk=letters[0].pk).update(status=DeadLetterStatus.RESOLVED)
    out = dlq("replay", "--all", "--rate", "1000")
    assert "2 resolved, 0 failed, 0 skipped (of 2)" in out  # settled letters are not selected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("replay",), "say which letters: IDS, --type, --fingerprint, --status or --all (see dlq replay --help)"),
        (("replay", "1", "--all"), "give letter ids or filters, not both"),
        (("replay", "x1"), "letter ids are integers: x1"),
        (("replay", "--all", "--rate", "0"), "--rate must be positive"),
        (("replay", "--all", "--limit", "0"), "--limit must be positive"),
    ],
)
def test_bad_arguments_exit_2(args, message):
    assert dlq_exit(*args) == (2, message)


def test_an_unknown_id_exits_2_and_replays_nothing(make_letter, handler):
    letter = make_letter()
    assert dlq_exit("replay", str(letter.pk), "999999") == (2, "dead letter not found: #999999")
    assert handler.calls == [] and statuses(letter) == ["pending"]


# --- Discard and resolve --------------------------------------------------------------------------------


def test_discard_without_a_reason_exits_2_and_changes_nothing(make_letter):
    letter = make_letter()
    assert dlq_exit("discard", str(letter.pk)) == (2, "discard needs --reason: say why these letters are given up")
    assert dlq_exit("discard", str(letter.pk), "--reason", "   ")[0] == 2
    assert statuses(letter) == ["pending"]


def test_discard_with_a_reason(make_letter):
    letters = [make_letter() for _ in range(2)]
    out = dlq("discard", "--type", "ops_test_message", "--reason", "bad data from the CRM")
    assert "Discard: 2 discarded, 0 skipped (of 2)" in out
    assert statuses(*letters) == ["discarded", "discarded"]
    stored = DeadLetter.objects.get(pk=letters[0].pk)
    assert stored.settled_reason == "bad data from the CRM" and stored.settled_by is None
    assert AuditRecord.objects.filter(action="dead_letter.discard", reason="bad data from the CRM").count() == 2


def test_resolve_skips_settled_letters_and_exits_1(make_letter):
    open_letter, settled = make_letter(), make_letter()
    DeadLetter.objects.filter(pk=settled.pk).update(status=DeadLetterStatus.DISCARDED)
    code, message = dlq_exit("resolve", str(open_letter.pk), str(settled.pk), "--reason", "sent by hand")
    assert code == 1 and f"#{settled.pk}" in message
    assert statuses(open_letter, settled) == ["resolved", "discarded"]


def test_discard_dry_run(make_letter):
    letter = make_letter()
    out = dlq("discard", str(letter.pk), "--reason", "r", "--dry-run")
    assert "would discard 1 of 1" in out and statuses(letter) == ["pending"]


def test_filters_select_the_letters_an_operator_may_act_on_leaving_live_claims_alone(make_letter, handler):
    pending, held, orphaned = make_letter(), make_letter(), make_letter()
    now = timezone.now()
    DeadLetter.objects.filter(pk=held.pk).update(
        status=DeadLetterStatus.RETRYING, next_retry_at=now + timedelta(hours=1)
    )
    DeadLetter.objects.filter(pk=orphaned.pk).update(status=DeadLetterStatus.RETRYING, next_retry_at=now)

    out = dlq("discard", "--all", "--reason", "duplicates of a resent batch")

    assert "Discard: 2 discarded, 0 skipped (of 2)" in out  # exit 0: nothing refused
    assert statuses(pending, held, orphaned) == ["discarded", "retrying", "discarded"]


def test_discard_logs_who_and_why(make_letter, caplog):
    letter = make_letter()
    caplog.set_level(logging.INFO)
    dlq("discard", str(letter.pk), "--reason", "customer cancelled the order")
    (line,) = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == "dead_letters_discarded"]
    assert line["reason"] == "customer cancelled the order"
    assert (line["actor"], line["count"]) == (f"cli:{getpass.getuser()}", 1)


@pytest.fixture
def fresh_breakers():
    # Breaker state outlives the test in Redis and in this process's registry.
    forget_circuit_breakers()
    yield
    forget_circuit_breakers()


def test_both_commands_name_the_os_user_alike_in_the_audit_trail_even_without_a_passwd_entry(
    make_letter, monkeypatch, fresh_breakers
):
    def no_passwd_entry():
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(getpass, "getuser", no_passwd_entry)
    dlq("discard", str(make_letter().pk), "--reason", "drill")
    call_command("breakers", "force-open", "green_api", "--reason", "drill", stdout=StringIO())
    call_command("breakers", "reset", "green_api", "--reason", "drill", stdout=StringIO())

    labels = set(AuditRecord.objects.values_list("actor_label", flat=True))
    assert labels == {f"cli:uid{os.getuid()}"}
    assert AuditRecord.objects.count() == 3


# --- As a real process ------------------------------------------------------------------------------------


def test_the_real_process_exits_2_with_one_readable_line():
    unknown = manage_dlq("show", "999999")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "CommandError: dead letter not found: #999999"
    no_reason = manage_dlq("discard", "--all")
    assert no_reason.returncode == 2
    assert no_reason.stderr.strip().splitlines()[-1] == (
        "CommandError: discard needs --reason: say why these letters are given up"
    )
    bad_status = manage_dlq("list", "--status", "lost")
    assert bad_status.returncode == 2 and "invalid choice: 'lost'" in bad_status.stderr
