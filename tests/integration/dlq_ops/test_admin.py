"""The dead letter admin against real PostgreSQL: pages, permissions, confirmation, snapshots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from reliability.admin.dead_letters import MAX_SNAPSHOT
from reliability.audit import AuditRecord
from reliability.dlq.models import DeadLetter, DeadLetterStatus
from reliability.errors import TransientError

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:reliability_deadletter_changelist")


def confirm_url(action: str) -> str:
    return reverse("admin:reliability_deadletter_confirm", kwargs={"action": action})


def statuses(*letters: DeadLetter) -> list[str]:
    return [DeadLetter.objects.get(pk=letter.pk).status for letter in letters]


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


# --- Looking ---------------------------------------------------------------------------------


def test_changelist_shows_counts_per_status_groups_and_the_oldest_pending_age(root_client, make_letter):
    old = make_letter()
    DeadLetter.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=3))
    make_letter()
    different = make_letter(error=TransientError("another failure"))
    DeadLetter.objects.create(
        message_type="other", error_class="x.Y", fingerprint="f" * 16, status=DeadLetterStatus.RESOLVED
    )

    response = root_client.get(CHANGELIST)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Pending: <strong>3</strong>" in page
    assert "Resolved: <strong>1</strong>" in page
    assert '<strong id="dlq-unsettled">3</strong>' in page
    assert '<strong id="dlq-oldest-pending">3\xa0hours' in page
    groups = {g["fingerprint"]: g["count"] for g in response.context["dlq_groups"]}
    assert groups == {old.fingerprint: 2, different.fingerprint: 1}
    assert "Replay all with this fingerprint" in page
    assert "ops_test_message: TransientError (2)" in page  # the failure-group filter


def test_changelist_filters_by_status_fingerprint_and_age(root_client, make_letter):
    recent = make_letter()
    old = make_letter(error=TransientError("old failure"))
    DeadLetter.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    DeadLetter.objects.filter(pk=recent.pk).update(status=DeadLetterStatus.EXHAUSTED)

    def shown(query: str) -> set[int]:
        response = root_client.get(f"{CHANGELIST}?{query}")
        assert response.status_code == 200
        return {letter.pk for letter in response.context["cl"].result_list}

    assert shown("status__exact=exhausted") == {recent.pk}
    assert shown(f"fingerprint={old.fingerprint}") == {old.pk}
    assert shown("age=lt1h") == {recent.pk}
    assert shown("age=gte24h") == {old.pk}
    assert shown(f"q={old.pk}") == {old.pk}
    assert shown("q=old+failure") == {old.pk}


def test_search_finds_a_fingerprint_group_by_a_unique_prefix(root_client, make_letter):
    group = [make_letter(), make_letter()]
    make_letter(error=TransientError("another failure"))

    def shown(term: str):
        response = root_client.get(CHANGELIST, {"q": term})
        assert response.status_code == 200
        return {letter.pk for letter in response.context["cl"].result_list}, [
            str(m) for m in response.context["messages"]
        ]

    assert shown(group[0].fingerprint[:8]) == ({letter.pk for letter in group}, [])
    assert shown(group[0].fingerprint) == ({letter.pk for letter in group}, [])
    assert shown("a09fdf7c") == (set(), [])  # no such fingerprint: an ordinary text search


def test_search_refuses_an_ambiguous_fingerprint_prefix_and_lists_the_candidates(root_client, make_letter):
    letter = make_letter()
    DeadLetter.objects.filter(pk=letter.pk).update(fingerprint="a09fdf7c1e2f" + "0" * 52)
    DeadLetter.objects.create(message_type="x", error_class="E", fingerprint="a09fdf7c99aa" + "0" * 52)

    response = root_client.get(CHANGELIST, {"q": "a09fdf7c"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert [str(m) for m in response.context["messages"]] == [
        "Fingerprint prefix a09fdf7c is ambiguous: a09fdf7c1e2f (1 letter), a09fdf7c99aa (1 letter); "
        "give more characters."
    ]


def test_detail_page_is_read_only_with_pretty_payload_first_failure_and_history(root_client, make_letter):
    letter = make_letter(note="hello")
    DeadLetter.objects.filter(pk=letter.pk).update(status=DeadLetterStatus.EXHAUSTED)

    response = root_client.get(reverse("admin:reliability_deadletter_change", args=[letter.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "&quot;note&quot;: &quot;hello&quot;" in page  # indented JSON, escaped
    assert "{\n  &quot;chatId&quot;" in page
    assert "green api timed out" in page
    assert "reliability.errors.TransientError" in page
    assert "First failure" in page and "Traceback" in page
    assert response.context["inline_admin_formsets"][0].formset.queryset.count() == 1  # the capture
    assert 'name="_save"' not in page  # nothing to edit
    assert "Replay all with this fingerprint (1)" in page


def test_detail_page_offers_actions_only_on_letters_an_operator_may_act_on(root_client, make_letter):
    pending, resolved, held = make_letter(), make_letter(), make_letter()
    DeadLetter.objects.filter(pk=resolved.pk).update(status=DeadLetterStatus.RESOLVED)
    DeadLetter.objects.filter(pk=held.pk).update(
        status=DeadLetterStatus.RETRYING, next_retry_at=timezone.now() + timedelta(hours=1)
    )

    def tools(letter: DeadLetter) -> list[str]:
        page = root_client.get(reverse("admin:reliability_deadletter_change", args=[letter.pk]))
        return [label for label, _ in page.context["dlq_tools"]]

    assert tools(pending) == ["Replay", "Discard", "Mark resolved", "Replay all with this fingerprint (1)"]
    assert tools(resolved) == ["Replay all with this fingerprint (1)"]  # the pending one of its group
    assert tools(held) == ["Replay all with this fingerprint (1)"]


def test_letters_cannot_be_added_or_edited(root_client, make_letter):
    letter = make_letter()
    assert root_client.get(reverse("admin:reliability_deadletter_add")).status_code == 403
    root_client.post(reverse("admin:reliability_deadletter_change", args=[letter.pk]), {"status": "resolved"})
    assert statuses(letter) == ["pending"]


# --- Permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["replay", "discard", "resolve"])
def test_each_action_needs_its_own_permission(client, operator_factory, make_letter, action):
    letter = make_letter()
    others = {"replay", "discard", "resolve"} - {action}
    looker = operator_factory("view_deadletter", *(f"{o}_deadletter" for o in others))
    client.force_login(looker)

    offered = client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert f"{action}_selected" not in [name for name, _ in offered]
    assert client.get(f"{confirm_url(action)}?ids={letter.pk}").status_code == 403
    post = client.post(confirm_url(action), {"ids": [letter.pk], "reason": "r", "_confirm": "1"})
    assert post.status_code == 403
    via_changelist = client.post(CHANGELIST, {"action": f"{action}_selected", "_selected_action": [letter.pk]})
    assert via_changelist.status_code == 302  # "no such action": nothing rendered, nothing done
    assert statuses(letter) == ["pending"]


def test_an_operator_with_the_permission_is_offered_the_action(client, operator_factory, make_letter):
    make_letter()
    client.force_login(operator_factory("view_deadletter", "discard_deadletter"))
    offered = [name for name, _ in client.get(CHANGELIST).context["action_form"].fields["action"].choices]
    assert "discard_selected" in offered and "replay_selected" not in offered


def test_confirmation_view_needs_an_admin_session(client, make_letter):
    letter = make_letter()
    response = client.get(f"{confirm_url('replay')}?ids={letter.pk}")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- Confirmation, dry run, snapshot --------------------------------------------------------------


def test_the_action_opens_a_confirmation_page_with_the_count_and_the_id_snapshot(root_client, make_letter, handler):
    letters = [make_letter() for _ in range(3)]
    response = root_client.post(
        CHANGELIST, {"action": "replay_selected", "_selected_action": [letter.pk for letter in letters[:2]]}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Replay 2 dead letters?" in page
    for letter in letters[:2]:
        assert f'<input type="hidden" name="ids" value="{letter.pk}">' in page
    assert f'value="{letters[2].pk}"' not in page
    assert handler.calls == []
    assert statuses(*letters) == ["pending"] * 3


def test_select_across_becomes_an_explicit_snapshot(root_client, make_letter):
    letters = [make_letter() for _ in range(3)]
    response = root_client.post(
        CHANGELIST, {"action": "discard_selected", "select_across": "1", "_selected_action": [letters[0].pk]}
    )
    assert response.context["ids"] == sorted(letter.pk for letter in letters)


def test_confirmation_get_changes_nothing(root_client, make_letter, handler):
    letter = make_letter()
    response = root_client.get(f"{confirm_url('replay')}?ids={letter.pk}")
    assert response.status_code == 200
    assert "Replay 1 dead letter?" in response.content.decode()
    assert handler.calls == [] and statuses(letter) == ["pending"]
    assert not AuditRecord.objects.exists()


def test_dry_run_reports_the_count_and_changes_nothing(root_client, make_letter, handler):
    letters = [make_letter() for _ in range(3)]
    DeadLetter.objects.filter(pk=letters[2].pk).update(status=DeadLetterStatus.RESOLVED)

    response = root_client.post(confirm_url("replay"), {"ids": [x.pk for x in letters], "_dry_run": "1"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Dry run: nothing was changed" in page
    assert "Would replay <strong>2</strong> of 3; would skip <strong>1</strong>" in page
    assert "skip: resolved" in page
    assert handler.calls == []
    assert statuses(*letters) == ["pending", "pending", "resolved"]
    assert not AuditRecord.objects.exists()


def test_replay_acts_only_on_the_snapshot_ids(root_client, make_letter, handler):
    snapshot = [make_letter() for _ in range(2)]
    page = root_client.post(CHANGELIST, {"action": "replay_selected", "select_across": "1", "_selected_action": [1]})
    ids = page.context["ids"]
    late = [make_letter() for _ in range(2)]  # match the same filter, arrived after the page

    response = root_client.post(confirm_url("replay"), {"ids": ids, "_confirm": "1"}, follow=True)

    assert sorted(handler.handled_ids) == sorted(x.payload["n"] for x in snapshot)
    assert statuses(*snapshot) == ["resolved", "resolved"]
    assert statuses(*late) == ["pending", "pending"]
    message = [str(m) for m in response.context["messages"]]
    assert message == ["Replay: 2 replayed, 0 skipped, 0 failed (of 2 selected)."]
    audit = AuditRecord.objects.filter(action="dead_letter.replay").values_list("target_id", "actor_label")
    assert sorted(audit) == sorted((str(x.pk), "admin:root") for x in snapshot)


def test_replay_reports_failures_and_skips(root_client, make_letter, handler):
    ok, failing, settled = make_letter(), make_letter(fail=True), make_letter()
    DeadLetter.objects.filter(pk=settled.pk).update(status=DeadLetterStatus.DISCARDED)

    response = root_client.post(
        confirm_url("replay"), {"ids": [ok.pk, failing.pk, settled.pk], "_confirm": "1"}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [
        "Replay: 1 replayed, 1 skipped, 1 failed (of 3 selected)."
    ]
    assert statuses(ok, failing, settled) == ["resolved", "pending", "discarded"]
    assert DeadLetter.objects.get(pk=failing.pk).attempts == 1


def test_discard_without_a_reason_is_refused(root_client, make_letter):
    letter = make_letter()
    response = root_client.post(confirm_url("discard"), {"ids": [letter.pk], "reason": "  ", "_confirm": "1"})
    assert response.status_code == 400
    assert "A reason is required." in response.content.decode()
    assert statuses(letter) == ["pending"]
    assert not AuditRecord.objects.exists()


def test_discard_with_a_reason_settles_the_snapshot_and_audits_it(root_client, make_letter, superuser):
    letters = [make_letter() for _ in range(2)]
    bystander = make_letter()

    response = root_client.post(
        confirm_url("discard"),
        {"ids": [x.pk for x in letters], "reason": "customer left", "_confirm": "1"},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == [
        "Discard: 2 discarded, 0 skipped, 0 failed (of 2 selected)."
    ]
    assert statuses(*letters, bystander) == ["discarded", "discarded", "pending"]
    stored = DeadLetter.objects.get(pk=letters[0].pk)
    assert stored.settled_by == superuser and stored.settled_reason == "customer left"
    reasons = AuditRecord.objects.filter(action="dead_letter.discard").values_list("reason", flat=True)
    assert list(reasons) == ["customer left", "customer left"]


def test_mark_resolved_through_an_operator_with_only_that_permission(client, operator_factory, make_letter):
    letter = make_letter()
    client.force_login(operator_factory("view_deadletter", "resolve_deadletter"))
    response = client.post(confirm_url("resolve"), {"ids": [letter.pk], "_confirm": "1"})
    assert response.status_code == 302
    assert statuses(letter) == ["resolved"]
    assert AuditRecord.objects.get(action="dead_letter.resolve").actor_label == "admin:operator"


def test_unknown_ids_are_refused_with_a_message(root_client, make_letter):
    letter = make_letter()
    response = root_client.post(confirm_url("resolve"), {"ids": [letter.pk, 999_999], "_confirm": "1"})
    assert response.status_code == 404
    assert "#999999" in response.content.decode()
    assert statuses(letter) == ["pending"]
    assert root_client.get(f"{confirm_url('resolve')}?ids=abc").status_code == 400
    assert root_client.get(f"{confirm_url('explode')}?ids={letter.pk}").status_code == 404


# --- Replay all with this fingerprint -----------------------------------------------------------------


def test_replay_all_with_this_fingerprint_shows_the_count_then_replays_that_group(root_client, make_letter, handler):
    group = [make_letter() for _ in range(3)]
    other = make_letter(error=TransientError("a different failure"))
    fingerprint = group[0].fingerprint
    assert other.fingerprint != fingerprint

    detail = root_client.get(reverse("admin:reliability_deadletter_change", args=[group[0].pk])).content.decode()
    assert "Replay all with this fingerprint (3)" in detail

    page = root_client.get(f"{confirm_url('replay')}?fingerprint={fingerprint}")
    assert page.status_code == 200
    assert "Replay 3 dead letters?" in page.content.decode()
    assert handler.calls == []
    ids = page.context["ids"]
    newcomer = make_letter()  # same fingerprint, after the page was shown
    assert newcomer.fingerprint == fingerprint

    root_client.post(confirm_url("replay"), {"ids": ids, "_confirm": "1"})

    assert statuses(*group) == ["resolved"] * 3
    assert statuses(other, newcomer) == ["pending", "pending"]


def test_replay_all_with_a_fingerprint_takes_a_unique_prefix_and_refuses_an_ambiguous_one(root_client, make_letter):
    letter = make_letter()
    page = root_client.get(f"{confirm_url('replay')}?fingerprint={letter.fingerprint[:10]}")
    assert page.status_code == 200 and page.context["ids"] == [letter.pk]
    DeadLetter.objects.create(message_type="x", error_class="E", fingerprint=letter.fingerprint[:10] + "0" * 54)
    ambiguous = root_client.get(f"{confirm_url('replay')}?fingerprint={letter.fingerprint[:10]}")
    assert ambiguous.status_code == 400
    assert f"fingerprint prefix {letter.fingerprint[:10]} is ambiguous" in ambiguous.content.decode()
    assert root_client.get(f"{confirm_url('replay')}?fingerprint=abcdef").status_code == 400
    assert root_client.get(f"{confirm_url('replay')}?fingerprint={'9' * 64}").status_code == 404


def test_a_snapshot_larger_than_one_page_can_carry_is_refused(root_client, handler):
    response = root_client.post(confirm_url("replay"), {"ids": list(range(1, MAX_SNAPSHOT + 2)), "_confirm": "1"})
    assert response.status_code == 400
    assert handler.calls == []


def test_a_fingerprint_with_nothing_left_to_replay_says_so(root_client, make_letter):
    letter = make_letter()
    DeadLetter.objects.filter(pk=letter.pk).update(status=DeadLetterStatus.RESOLVED)
    response = root_client.get(f"{confirm_url('replay')}?fingerprint={letter.fingerprint}", follow=True)
    assert [str(m) for m in response.context["messages"]] == ["No dead letters to act on."]
