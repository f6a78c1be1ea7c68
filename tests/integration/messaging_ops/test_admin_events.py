"""Webhook events in the admin and the conversation page, on real PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.admin.events import CONVERSATION_PAGE_SIZE
from messaging.models import OutboundStatus, WebhookType
from tests.integration.messaging_ops.conftest import CHAT, minutes_ago

pytestmark = pytest.mark.django_db

EVENTS = reverse("admin:messaging_webhookevent_changelist")


def conversation(chat_id: str = CHAT) -> str:
    return reverse("admin:messaging_conversation", kwargs={"chat_id": chat_id})


@pytest.fixture
def root_client(client, superuser):
    client.force_login(superuser)
    return client


def shown(client, query: str = "") -> set[int]:
    response = client.get(f"{EVENTS}?{query}")
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


# --- the list ------------------------------------------------------------------------------------


def test_events_filter_by_type_processing_status_and_chat(root_client, make_event):
    incoming = make_event()
    other_chat = make_event(chat_id="79007770000@c.us", status="failed")
    status = make_event(type_webhook=WebhookType.OUTGOING_MESSAGE_STATUS, text="", message_status="delivered")

    assert shown(root_client, "type=incomingMessageReceived") == {incoming.pk, other_chat.pk}
    assert shown(root_client, "type=outgoingMessageStatus") == {status.pk}
    assert shown(root_client, "processing_status__exact=failed") == {other_chat.pk}
    assert shown(root_client, "chat=79007770000%40c.us") == {other_chat.pk}


def test_events_search_by_exact_chat_id_id_message_or_a_bare_phone_number(root_client, make_event):
    mine = make_event(id_message="3EB0C767D097B7C7C030")
    other = make_event(chat_id="79007770000@c.us")

    assert shown(root_client, "q=3EB0C767D097B7C7C030") == {mine.pk}
    assert shown(root_client, "q=79007770000%40c.us") == {other.pk}
    assert shown(root_client, "q=%2B79007770000") == {other.pk}
    assert shown(root_client, "q=7900") == set()  # exact, not a scan of every chat


def test_the_list_links_each_chat_to_its_conversation(root_client, make_event):
    make_event()
    page = root_client.get(EVENTS).content.decode()
    assert f'href="{conversation()}"' in page


def test_the_chat_filter_offers_the_latest_chats(root_client, make_event):
    make_event(chat_id="79001110000@c.us")
    make_event(chat_id="79002220000@c.us")
    page = root_client.get(EVENTS).content.decode()
    assert "79001110000@c.us" in page and "79002220000@c.us" in page


def test_event_detail_is_read_only_with_pretty_redacted_raw_json(root_client, make_event, settings):
    payload = {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": {"idInstance": 1101000001},
        "apiTokenInstance": "leaked-token-value-123",
        "senderData": {"chatId": CHAT},
        "note": f"echo of {settings.GREEN_API_TOKEN}",
    }
    event = make_event(payload=payload)

    response = root_client.get(reverse("admin:messaging_webhookevent_change", args=[event.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "leaked-token-value-123" not in page and settings.GREEN_API_TOKEN not in page
    assert "[REDACTED]" in page
    assert "&quot;idInstance&quot;: 1101000001" in page  # indented JSON, one key per line
    assert 'name="_save"' not in page  # nothing to save
    assert f'href="{conversation()}"' in page


def test_events_cannot_be_added_changed_or_deleted_even_by_a_superuser(root_client, make_event):
    event = make_event()
    assert root_client.get(reverse("admin:messaging_webhookevent_add")).status_code == 403
    assert (
        root_client.post(reverse("admin:messaging_webhookevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    root_client.post(reverse("admin:messaging_webhookevent_change", args=[event.pk]), {"text": "edited"})
    event.refresh_from_db()
    assert event.text == "My order never arrived"


# --- the conversation page -----------------------------------------------------------------------


def test_conversation_reads_in_time_order_with_sentiment_and_delivery_status(
    root_client, make_event, make_outbound, make_sentiment, make_trigger
):
    trigger = make_trigger("apology")
    first = make_event("Where is my order?", at=minutes_ago(10))
    make_sentiment(first, "negative", score=-0.61)
    reply = make_outbound(
        "Sorry, Anna!", at=minutes_ago(9), status=OutboundStatus.DELIVERED, trigger=trigger, inbound=first
    )
    second = make_event("Thanks, it came", at=minutes_ago(5))
    make_sentiment(second, "positive", score=0.7, degraded=True)
    api_sent = make_outbound("Glad to hear it", at=minutes_ago(4), status=OutboundStatus.FAILED, last_error="x")
    make_event("someone else", chat_id="79007770000@c.us")

    response = root_client.get(conversation())

    assert response.status_code == 200
    page = response.content.decode()
    order = [m.group(0) for m in re.finditer(r'id="(event|outbound)-\d+"', page)]
    assert order == [
        f'id="event-{first.pk}"',
        f'id="outbound-{reply.pk}"',
        f'id="event-{second.pk}"',
        f'id="outbound-{api_sent.pk}"',
    ]
    assert "someone else" not in page
    first_block = page[page.index(f'id="event-{first.pk}"') : page.index(f'id="outbound-{reply.pk}"')]
    assert "sentiment-negative" in first_block and "-0.61" in first_block and "DeepSeek" in first_block
    assert "sentiment-degraded" not in first_block
    second_block = page[page.index(f'id="event-{second.pk}"') : page.index(f'id="outbound-{api_sent.pk}"')]
    assert "sentiment-positive" in second_block and "Local fallback" in second_block
    assert "sentiment-degraded" in second_block
    reply_block = page[page.index(f'id="outbound-{reply.pk}"') : page.index(f'id="event-{second.pk}"')]
    assert "status-delivered" in reply_block and "apology" in reply_block and f"#{first.pk}" in reply_block
    assert "status-failed" in page[page.index(f'id="outbound-{api_sent.pk}"') :]


def test_conversation_leaves_out_api_echoes_and_status_events_but_shows_phone_messages(
    root_client, make_event, make_outbound
):
    make_outbound("Sorry, Anna!", status=OutboundStatus.SENT)
    echo = make_event("Sorry, Anna!", type_webhook=WebhookType.OUTGOING_API_MESSAGE)
    status = make_event("", type_webhook=WebhookType.OUTGOING_MESSAGE_STATUS, message_status="read")
    phone = make_event("typed on the phone", type_webhook=WebhookType.OUTGOING_MESSAGE)

    page = root_client.get(conversation()).content.decode()

    assert f'id="event-{echo.pk}"' not in page and f'id="event-{status.pk}"' not in page
    assert f'id="event-{phone.pk}"' in page and "sent from the phone" in page


def test_a_long_conversation_shows_the_latest_page_and_links_to_earlier_messages(root_client, make_event):
    start = timezone.now() - timedelta(hours=5)
    events = [make_event(f"message {i}", at=start + timedelta(seconds=i)) for i in range(CONVERSATION_PAGE_SIZE + 5)]

    response = root_client.get(conversation())
    entries = response.context["page"].entries
    assert [e.event.pk for e in entries] == [e.pk for e in events[5:]]
    earlier = response.context["earlier_url"]
    assert earlier is not None

    older = root_client.get(earlier)
    assert [e.event.pk for e in older.context["page"].entries] == [e.pk for e in events[:5]]
    assert older.context["earlier_url"] is None


def test_a_bad_before_cursor_is_a_400_and_an_unknown_chat_a_404(root_client, make_event):
    make_event()
    assert root_client.get(conversation() + "?before=yesterday").status_code == 400
    assert root_client.get(conversation() + "?before=2026-13-45T99:00:00").status_code == 400
    assert root_client.get(conversation("79000000000@c.us")).status_code == 404
    assert root_client.get(conversation("x" * 300)).status_code == 404


def test_conversation_needs_both_view_permissions(client, messaging_user, make_event):
    make_event()
    client.force_login(messaging_user("view_webhookevent", username="half"))
    assert client.get(conversation()).status_code == 403
    client.force_login(messaging_user("view_webhookevent", "view_outboundmessage", username="reader"))
    assert client.get(conversation()).status_code == 200


def test_conversation_is_behind_the_admin_login(client, django_user_model, make_event):
    make_event()
    response = client.get(conversation())
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    client.force_login(django_user_model.objects.create_user("customer", password="pw-123456"))
    assert client.get(conversation()).status_code == 302  # not staff: back to the login page


def test_conversation_escapes_what_customers_write(root_client, make_event):
    make_event("<script>alert(1)</script>", sender_name="<b>Eve</b>")
    page = root_client.get(conversation()).content.decode()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<b>Eve</b>" not in page


def test_conversation_offers_resend_and_reconcile_only_to_who_may(client, messaging_user, make_event, make_outbound):
    make_event()
    failed = make_outbound("failed one", status=OutboundStatus.FAILED)
    unknown = make_outbound("unknown one", status=OutboundStatus.UNKNOWN)
    resend = reverse("admin:messaging_outboundmessage_confirm", kwargs={"action": "resend"}) + f"?ids={failed.pk}"
    reconcile = (
        reverse("admin:messaging_outboundmessage_confirm", kwargs={"action": "reconcile"}) + f"?ids={unknown.pk}"
    )

    client.force_login(messaging_user("view_webhookevent", "view_outboundmessage", username="reader"))
    page = client.get(conversation()).content.decode()
    assert resend not in page and reconcile not in page

    client.force_login(
        messaging_user(
            "view_webhookevent",
            "view_outboundmessage",
            "resend_outboundmessage",
            "reconcile_outboundmessage",
            username="op",
        )
    )
    page = client.get(conversation()).content.decode()
    assert resend in page and reconcile in page
