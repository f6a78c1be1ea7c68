"""Seed the outbox sweeper as an editable PeriodicTask row (every minute)."""

import json

from django.db import migrations

NAME = "Sweep the messaging outbox"


def seed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "messaging.sweep_outbox",
            "kwargs": json.dumps({}),
            "interval": every_minute,
            "enabled": True,
            "description": (
                "Sends again what nobody picked up (events still pending, outbound rows queued past their time), "
                "treats rows stuck in sending as unknown and reconciles unknown ones with Green API (DESIGN 8)."
            ),
        },
    )


def unseed(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0001_webhook_events_triggers_outbox"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
