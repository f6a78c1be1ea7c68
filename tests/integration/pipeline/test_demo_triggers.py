"""``create_demo_triggers``: what `make run` seeds for the sample conversation."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from messaging.models import Trigger

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def run() -> str:
    out = io.StringIO()
    call_command("create_demo_triggers", stdout=out)
    return out.getvalue()


def test_demo_triggers_are_created_once_and_an_edited_one_is_left_alone():
    assert "Refunds, Order problems, Happy customers, Opening hours" in run()
    Trigger.objects.filter(name="Refunds").update(reply_template="Edited by an operator")
    assert "already there" in run()
    assert Trigger.objects.count() == 4
    assert Trigger.objects.get(name="Refunds").reply_template == "Edited by an operator"
    for trigger in Trigger.objects.all():
        trigger.full_clean()


def test_demo_triggers_are_refused_in_production(settings):
    settings.APP_ENV = "production"
    with pytest.raises(CommandError, match="APP_ENV=production"):
        run()
    assert not Trigger.objects.exists()
