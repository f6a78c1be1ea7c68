"""The outbox in the admin: the list, the read-only row, and the resend and reconcile actions."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from messaging.models import OutboundMessage
from messaging.models import OutboundStatus as S
from messaging.services.dispatch import SEND_TASK
from reliability.audit import AuditRecord
from tests.httpserver import Reply
from tests.integration.messaging_ops.conftest import CHAT, minutes_ago

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:messaging_outboundmessage_changelist")
JOURNAL = "/lastOutgoingMessages/"


def confirm_url(action: str) -> str:
    return reverse("admin:messaging_outboundmessage_confirm", kwargs={"action": action})


def statuses(*rows: OutboundMessage) -> list[str]:
    return [OutboundMessage.objects.get(pk=row.pk).status for row in rows]


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.fixture
def published(monkeypatch):
    """Send tasks the outbox publishes after commit (the broker itself is the workers tests' business)."""
    tasks: list[tuple[str, list]] = []

    def enqueue(*, task_name, args, countdown=None):
        tasks.append((task_name, list(args)))
        return True

    for module in ("messaging.services.outbound_ops", "messaging.services.reconcile"):
        monkeypatch.setattr(f"{module}.task_enqueue", enqueue)
    return tasks


def shown(client, query: str = "") -> set[int]:
    response = client.get(f"{CHANGELIST}?{query}")
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


# --- looking -------------------------------------------------------------------------------------


def test_outbound_filter_by_status_and_chat_and_search_by_id_message(root_client, make_outbound):
    failed = make_outbound(status=S.FAILED)
    sent = make_outbound(status=S.SENT, id_message="3EB0AAA", chat_id="79007770000@c.us")

    assert shown(root_client, "status__exact=failed") == {failed.pk}
    assert shown(root_client, "chat=79007770000%40c.us") == {sent.pk}
    assert shown(root_client, "q=3EB0AAA") == {sent.pk}


def test_the_list_reads_rows_and_triggers_in_one_query_and_never_counts_the_table(
    root_client, make_outbound, make_trigger, django_assert_max_num_queries
):
    trigger = make_trigger()
    for _ in range(30):
        make_outbound(trigger=trigger)
    with django_assert_max_num_queries(12):
        response = root_client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.context["cl"].show_full_result_count is False
    assert "apology" in response.content.decode()


def test_the_row_is_read_only_with_the_error_redacted_and_links(root_client, make_outbound, make_event, settings):
    event = make_event()
    row = make_outbound(
        status=S.FAILED, inbound=event, last_error=f"rejected at /waInstance1/sendMessage/{settings.GREEN_API_TOKEN}"
    )
    response = root_client.get(reverse("admin:messaging_outboundmessage_change", args=[row.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert settings.GREEN_API_TOKEN not in page and "[REDACTED]" in page
    assert 'name="_save"' not in page
    assert reverse("admin:messaging_conversation", args=[CHAT]) in page
    assert reverse("admin:messaging_webhookevent_change", args=[event.pk]) in page
    assert confirm_url("resend") in page and confirm_url("reconcile") not in page
    assert root_client.get(reverse("admin:messaging_outboundmessage_add")).status_code == 403


# --- resend --------------------------------------------------------------------------------------


def test_resend_confirms_with_counts_then_requeues_only_failed_rows(
    root_client, make_outbound, published, django_capture_on_commit_callbacks
):
    failed = [make_outbound(f"f{i}", status=S.FAILED, last_error="466 quota") for i in range(2)]
    delivered = make_outbound(status=S.DELIVERED)
    ids = [row.pk for row in (*failed, delivered)]

    page = root_client.post(CHANGELIST, {"action": "resend_selected", ACTION_CHECKBOX_NAME: ids})
    assert page.status_code == 200
    text = page.content.decode()
    assert "<strong>2</strong> of the <strong>3</strong> selected" in text
    assert "will be skipped" in text
    assert statuses(*failed, delivered) == [S.FAILED, S.FAILED, S.DELIVERED]  # nothing yet

    with django_capture_on_commit_callbacks(execute=True):
        done = root_client.post(confirm_url("resend"), {"ids": ids, "reason": "quota raised", "_confirm": "1"})

    assert done.status_code == 302
    assert statuses(*failed, delivered) == [S.QUEUED, S.QUEUED, S.DELIVERED]
    assert published == [(SEND_TASK, [failed[0].pk]), (SEND_TASK, [failed[1].pk])]
    records = AuditRecord.objects.filter(action="outbound_message.resend").order_by("target_id")
    assert [(r.target_type, r.target_id, r.reason, r.actor_label) for r in records] == [
        ("outbound_message", str(failed[0].pk), "quota raised", "admin:root"),
        ("outbound_message", str(failed[1].pk), "quota raised", "admin:root"),
    ]
    message = [str(m) for m in done.wsgi_request._messages][0]
    assert message.startswith("Resend: 2 of 3 selected") and "1 not failed (delivered)" in message


def test_the_get_page_changes_nothing(root_client, make_outbound, published):
    row = make_outbound(status=S.FAILED)
    page = root_client.get(confirm_url("resend") + f"?ids={row.pk}")
    assert page.status_code == 200 and statuses(row) == [S.FAILED]
    assert not AuditRecord.objects.exists() and published == []


def test_a_row_that_changed_after_the_page_opened_is_skipped(root_client, make_outbound, published):
    row = make_outbound(status=S.FAILED)
    root_client.get(confirm_url("resend") + f"?ids={row.pk}")
    OutboundMessage.objects.filter(pk=row.pk).update(status=S.SENT)  # a dead letter replay got there first
    root_client.post(confirm_url("resend"), {"ids": [row.pk], "_confirm": "1"})
    assert statuses(row) == [S.SENT] and published == [] and not AuditRecord.objects.exists()


def test_resend_and_reconcile_need_their_own_permissions(client, messaging_user, make_outbound, published):
    row = make_outbound(status=S.FAILED)
    client.force_login(messaging_user("view_outboundmessage", username="viewer"))
    assert client.get(confirm_url("resend") + f"?ids={row.pk}").status_code == 403
    assert client.post(confirm_url("resend"), {"ids": [row.pk], "_confirm": "1"}).status_code == 403
    assert client.post(confirm_url("reconcile"), {"ids": [row.pk], "_confirm": "1"}).status_code == 403
    assert client.get(CHANGELIST).context["action_form"] is None  # no action offered
    assert statuses(row) == [S.FAILED] and published == []

    client.force_login(messaging_user("view_outboundmessage", "resend_outboundmessage", username="resender"))
    actions = client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == ["resend_selected"]
    assert client.post(confirm_url("reconcile"), {"ids": [row.pk], "_confirm": "1"}).status_code == 403


def test_the_confirmation_page_is_behind_the_admin_login(client, make_outbound):
    row = make_outbound(status=S.FAILED)
    response = client.get(confirm_url("resend") + f"?ids={row.pk}")
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]


@pytest.mark.parametrize("ids", ["abc", "1,x", "٣", "9" * 30])
def test_ids_that_are_not_ids_are_400(root_client, ids):
    assert root_client.get(confirm_url("resend") + f"?ids={ids}").status_code == 400


def test_an_unknown_action_is_404(root_client):
    assert root_client.get(confirm_url("delete-everything") + "?ids=1").status_code == 404


# --- reconcile -----------------------------------------------------------------------------------


def journal_entry(text: str, id_message: str) -> dict:
    return {
        "type": "outgoing",
        "idMessage": id_message,
        "timestamp": int(timezone.now().timestamp()),
        "statusMessage": "delivered",
        "typeMessage": "textMessage",
        "chatId": CHAT,
        "textMessage": text,
        "sendByApi": True,
    }


def test_reconcile_settles_found_rows_requeues_absent_ones_and_leaves_fresh_ones_waiting(
    root_client,
    make_outbound,
    green_api,
    settings,
    published,
    django_capture_on_commit_callbacks,
):
    settings.GREEN_API_JOURNAL_LAG_SECONDS = 120
    found = make_outbound("found me", status=S.UNKNOWN, attempts=1, sending_at=minutes_ago(10))
    OutboundMessage.objects.filter(pk=found.pk).update(updated_at=minutes_ago(10))
    absent = make_outbound("lost", status=S.UNKNOWN, attempts=1, sending_at=minutes_ago(10))
    OutboundMessage.objects.filter(pk=absent.pk).update(updated_at=minutes_ago(10))
    fresh = make_outbound("just now", status=S.UNKNOWN, attempts=1, sending_at=timezone.now())
    stuck = make_outbound("worker died", status=S.SENDING, attempts=1, sending_at=minutes_ago(60))
    OutboundMessage.objects.filter(pk=stuck.pk).update(updated_at=minutes_ago(60))
    settings.OUTBOX_SENDING_STALE_SECONDS = 60
    sent = make_outbound("already sent", status=S.SENT, id_message="X1")
    green_api.queue(
        Reply(json=[journal_entry("found me", "J-FOUND"), journal_entry("worker died", "J-STUCK")]), path=JOURNAL
    )
    ids = [found.pk, absent.pk, fresh.pk, stuck.pk, sent.pk]

    page = root_client.get(confirm_url("reconcile") + "?ids=" + ",".join(map(str, ids)))
    assert "<strong>4</strong> of the <strong>5</strong> selected" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = root_client.post(confirm_url("reconcile"), {"ids": ids, "_confirm": "1", "reason": "incident 12"})

    assert done.status_code == 302
    assert statuses(found, absent, fresh, stuck, sent) == [S.DELIVERED, S.QUEUED, S.UNKNOWN, S.DELIVERED, S.SENT]
    assert OutboundMessage.objects.get(pk=found.pk).id_message == "J-FOUND"
    assert green_api.count(JOURNAL) == 1 and green_api.count("/sendMessage/") == 0
    assert published == [(SEND_TASK, [absent.pk])]
    audited = dict(AuditRecord.objects.filter(action="outbound_message.reconcile").values_list("target_id", "detail"))
    assert set(audited) == {str(found.pk), str(absent.pk), str(fresh.pk), str(stuck.pk)}
    assert audited[str(stuck.pk)] == {"from_status": "sending", "to_status": "delivered"}
    message = [str(m) for m in done.wsgi_request._messages][0]
    assert "Reconcile: 4 of 5 selected" in message and "surely absent from Green API: sending again" in message


def test_a_sending_row_whose_worker_may_be_alive_is_not_reconciled(root_client, make_outbound, green_api):
    alive = make_outbound("in flight", status=S.SENDING, attempts=1, sending_at=timezone.now())
    root_client.post(confirm_url("reconcile"), {"ids": [alive.pk], "_confirm": "1"})
    assert statuses(alive) == [S.SENDING]
    assert green_api.count(JOURNAL) == 0 and not AuditRecord.objects.exists()


def test_when_the_journal_cannot_be_read_rows_stay_unknown(root_client, make_outbound, green_api):
    row = make_outbound("lost", status=S.UNKNOWN, attempts=1, sending_at=minutes_ago(10))
    OutboundMessage.objects.filter(pk=row.pk).update(updated_at=minutes_ago(10))
    green_api.default = Reply(status=500)
    done = root_client.post(confirm_url("reconcile"), {"ids": [row.pk], "_confirm": "1"})
    assert done.status_code == 302
    assert statuses(row) == [S.UNKNOWN]
    assert "not settled yet" in [str(m) for m in done.wsgi_request._messages][0]
