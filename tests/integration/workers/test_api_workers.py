"""The messaging API and admin actions over real HTTP, with real worker processes and a loopback Green API."""

from __future__ import annotations

import time

import pytest
import requests
from django.urls import reverse
from rest_framework.authtoken.models import Token

from messaging.models import OutboundMessage, Trigger
from messaging.models import OutboundStatus as S
from reliability.audit import AuditRecord
from tests.integration.dlq.conftest import wait_for
from tests.integration.outbox.rows import CHAT, outbound

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SEND = "/sendMessage/"


@pytest.fixture
def token(django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("integration", password="pw-123456")
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="messaging",
            codename__in=["add_outboundmessage", "view_outboundmessage", "execute_trigger"],
        )
    )
    return Token.objects.create(user=user).key


def api(live_server, token, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Token {token}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{live_server.url}{path}", headers=headers, timeout=10, **kwargs)


def test_a_message_sent_through_the_api_reaches_green_api_once_and_reads_as_sent(
    live_server, messaging_worker, green, token
):
    messaging_worker("api1")
    key = {"Idempotency-Key": "order-1001-shipped"}
    body = {"phone": "+7 900 555-01-01", "text": "Your order has shipped 📦"}

    accepted = api(live_server, token, "POST", "/api/v1/messages/", json=body, headers=key)

    assert accepted.status_code == 202, accepted.text
    row_id = accepted.json()["id"]
    wait_for(lambda: OutboundMessage.objects.get(pk=row_id).status == S.SENT, timeout=30, what="the row sent")
    detail = api(live_server, token, "GET", f"/api/v1/messages/{row_id}").json()
    assert detail["status"] == "sent" and detail["attempts"] == 1 and detail["id_message"].startswith("3EB0")
    assert [r.json() for r in green.received(SEND)] == [{"chatId": CHAT, "message": "Your order has shipped 📦"}]

    again = api(live_server, token, "POST", "/api/v1/messages/", json=body, headers=key)
    assert again.status_code == 202 and again.json()["id"] == row_id and again.json()["status"] == "sent"
    time.sleep(1)  # a second task, had one been queued, has run by now
    assert green.count(SEND) == 1


def test_a_20001_character_message_is_400_and_nothing_reaches_green_api(live_server, messaging_worker, green, token):
    messaging_worker("api2")
    response = api(live_server, token, "POST", "/api/v1/messages/", json={"chat_id": CHAT, "text": "a" * 20_001})
    assert response.status_code == 400
    assert "at most 20000" in response.json()["text"][0]
    time.sleep(1)
    assert green.count(SEND) == 0 and not OutboundMessage.objects.exists()


def test_an_executed_trigger_sends_its_rendered_reply(live_server, messaging_worker, green, token):
    messaging_worker("api3")
    trigger = Trigger.objects.create(name="thanks", keywords=["thanks"], reply_template="Thank you, {sender_name}!")

    response = api(
        live_server,
        token,
        "POST",
        f"/api/v1/triggers/{trigger.pk}/execute/",
        json={"chat_id": CHAT, "sender_name": "Anna"},
    )

    assert response.status_code == 202, response.text
    wait_for(lambda: green.count(SEND) == 1, timeout=30, what="the reply to reach Green API")
    assert green.received(SEND)[0].json() == {"chatId": CHAT, "message": "Thank you, Anna!"}
    wait_for(lambda: OutboundMessage.objects.get().status == S.SENT, timeout=10, what="the row sent")


def test_an_operator_resend_from_the_admin_sends_a_failed_row_once(live_server, messaging_worker, green, superuser):
    messaging_worker("api4")
    row = outbound(S.FAILED, text="Your refund is on its way", last_error="GreenApiQuotaExceeded: 466", attempts=5)
    session = requests.Session()
    login = session.get(f"{live_server.url}{reverse('admin:login')}", timeout=10)
    session.post(
        login.url,
        data={"username": "root", "password": "root-pass", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": login.url},
        timeout=10,
    )
    confirm = f"{live_server.url}{reverse('admin:messaging_outboundmessage_confirm', kwargs={'action': 'resend'})}"

    page = session.get(f"{confirm}?ids={row.pk}", timeout=10)
    assert page.status_code == 200 and "<strong>1</strong> of the <strong>1</strong> selected" in page.text
    done = session.post(
        confirm,
        data={
            "ids": row.pk,
            "_confirm": "1",
            "reason": "quota raised",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": confirm},
        timeout=10,
    )

    assert done.status_code == 200  # redirected to the row's page
    wait_for(lambda: OutboundMessage.objects.get(pk=row.pk).status == S.SENT, timeout=30, what="the resent row sent")
    assert green.count(SEND) == 1
    record = AuditRecord.objects.get(action="outbound_message.resend")
    assert (record.target_id, record.actor_label, record.reason) == (str(row.pk), "admin:root", "quota raised")
