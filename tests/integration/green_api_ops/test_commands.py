"""green_api_setup and green_api_poll against the loopback Green API, with the real client."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from messaging.models import ReceivedVia, WebhookEvent
from tests.httpserver import Reply
from tests.integration.messaging.conftest import GREEN_API_INSTANCE, GREEN_API_TOKEN
from tests.integration.webhook import bodies

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

CONFIGURED = {
    "webhookUrl": "https://bot.example/api/v1/webhooks/green-api/",
    "webhookUrlToken": "",  # filled per test from the settings
    "incomingWebhook": "yes",
    "outgoingWebhook": "yes",
    "outgoingAPIMessageWebhook": "yes",
    "stateWebhook": "yes",
    "delaySendMessagesMilliseconds": 500,
}


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def instance(green_api):
    """The loopback Green API as an instance of ours: its events carry our id."""
    settings.GREEN_API_ID_INSTANCE = GREEN_API_INSTANCE
    return green_api


def configured() -> dict:
    return {**CONFIGURED, "webhookUrlToken": settings.GREEN_API_WEBHOOK_TOKEN}


def test_setup_changes_only_what_differs_and_never_prints_the_token(instance):
    instance.queue(Reply(json={**configured(), "webhookUrl": "", "webhookUrlToken": "", "stateWebhook": "no"}))
    instance.queue(Reply(json={"saveSettings": True}), path="/setSettings/")
    output = run("green_api_setup", "--webhook-url", CONFIGURED["webhookUrl"])
    assert "webhookUrl: '' -> 'https://bot.example/api/v1/webhooks/green-api/'" in output
    assert "webhookUrlToken: will be changed (value not shown)" in output
    assert "stateWebhook: 'no' -> 'yes'" in output
    assert "saved 3 setting(s)" in output
    assert settings.GREEN_API_WEBHOOK_TOKEN not in output
    assert instance.received("/setSettings/")[0].json() == {
        "webhookUrl": CONFIGURED["webhookUrl"],
        "webhookUrlToken": settings.GREEN_API_WEBHOOK_TOKEN,
        "stateWebhook": "yes",
    }


def test_setup_with_nothing_to_change_calls_no_set_settings(instance):
    instance.queue(Reply(json=configured()))
    output = run("green_api_setup", "--webhook-url", CONFIGURED["webhookUrl"])
    assert "nothing to change" in output
    assert instance.count("/setSettings/") == 0


def test_setup_dry_run_says_what_would_change_and_changes_nothing(instance, settings):
    settings.GREEN_API_WEBHOOK_URL = "https://other.example/hook/"
    instance.queue(Reply(json=configured()))
    output = run("green_api_setup", "--dry-run")
    assert "webhookUrl: 'https://bot.example/api/v1/webhooks/green-api/' -> 'https://other.example/hook/'" in output
    assert "dry run: nothing changed" in output
    assert instance.count("/setSettings/") == 0


@pytest.mark.parametrize("args", [(), ("--webhook-url", "ftp://x.example/"), ("--webhook-url", "not a url")])
def test_setup_without_a_usable_webhook_url_exits_2(instance, args):
    with pytest.raises(CommandError) as caught:
        run("green_api_setup", *args)
    assert caught.value.returncode == 2
    assert instance.count() == 0


def test_setup_when_green_api_refuses_exits_1_with_one_line_and_no_token(instance):
    instance.queue(Reply(status=401, json={"path": f"/waInstance{GREEN_API_INSTANCE}/getSettings/{GREEN_API_TOKEN}"}))
    with pytest.raises(CommandError) as caught:
        run("green_api_setup", "--webhook-url", CONFIGURED["webhookUrl"])
    assert caught.value.returncode == 1
    assert "\n" not in str(caught.value) and GREEN_API_TOKEN not in str(caught.value)
    assert "401" in str(caught.value)


def notification(receipt_id: int, body: dict) -> Reply:
    return Reply(json={"receiptId": receipt_id, "body": body}, path="/receiveNotification/")


@pytest.mark.django_db(transaction=True)
def test_poll_stores_the_event_before_deleting_its_notification(instance):
    body = bodies.incoming_text(id_message="POLLED1")
    body["instanceData"]["idInstance"] = int(GREEN_API_INSTANCE)
    stored_when_deleted = []

    def on_delete(request):
        if "/deleteNotification/" in request.path:
            stored_when_deleted.append(WebhookEvent.objects.filter(id_message="POLLED1").exists())
            connection.close()  # the server thread's own connection
            return Reply(json={"result": True})
        return None

    instance.on_request = on_delete
    instance.queue(notification(41, body))
    output = run("green_api_poll", "--once")
    assert output.strip() == "receipt 41: incomingMessageReceived stored"
    assert stored_when_deleted == [True]
    assert instance.received("/deleteNotification/")[0].path.endswith("/41")
    assert WebhookEvent.objects.get().received_via == ReceivedVia.POLL


def test_poll_deletes_a_duplicate_and_a_notification_that_can_never_be_stored(instance):
    body = bodies.incoming_text(id_message="POLLED2")
    body["instanceData"]["idInstance"] = int(GREEN_API_INSTANCE)
    instance.queue(
        Reply(json={"result": True}), Reply(json={"result": True}), Reply(json={"result": True}), path="/delete"
    )
    instance.queue(notification(1, body), notification(2, body), notification(3, {"no": "type"}))
    assert "receipt 1: incomingMessageReceived stored" in run("green_api_poll", "--once")
    assert "receipt 2: incomingMessageReceived duplicate" in run("green_api_poll", "--once")
    refused = run("green_api_poll", "--once")
    assert "receipt 3: event refused (typeWebhook is missing" in refused
    assert [r.path.rsplit("/", 1)[1] for r in instance.received("/deleteNotification/")] == ["1", "2", "3"]
    assert WebhookEvent.objects.count() == 1


def test_poll_keeps_an_event_of_another_instance_and_exits_2(instance):
    body = bodies.incoming_text()
    body["instanceData"]["idInstance"] = 1234567
    instance.queue(notification(5, body))
    with pytest.raises(CommandError) as caught:
        run("green_api_poll", "--once")
    assert caught.value.returncode == 2
    assert "check GREEN_API_ID_INSTANCE" in str(caught.value)
    assert instance.count("/deleteNotification/") == 0


def test_poll_once_with_nothing_waiting_says_so(instance):
    instance.queue(Reply(json=None), path="/receiveNotification/")
    assert run("green_api_poll", "--once").strip() == "no notification waiting"


def test_poll_rejects_a_receive_timeout_green_api_does_not_accept(instance):
    with pytest.raises(CommandError) as caught:
        run("green_api_poll", "--once", "--receive-timeout", "90")
    assert caught.value.returncode == 2


@pytest.mark.django_db(transaction=True)
def test_poll_with_green_api_unreachable_is_one_line_and_exit_1(tmp_path):
    db = connection.settings_dict
    result = subprocess.run(
        [sys.executable, "manage.py", "green_api_poll", "--once"],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "GREEN_API_URL": "http://127.0.0.1:9",
            "GREEN_API_TOKEN": GREEN_API_TOKEN,
            "VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("CommandError: Green API:")
    assert GREEN_API_TOKEN not in result.stderr + result.stdout
