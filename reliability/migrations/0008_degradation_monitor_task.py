"""Seed the degradation monitor's beat job as a PeriodicTask row, so operators can edit it."""

import json

from django.db import migrations

JOB = {
    "name": "Re-evaluate the degradation level",
    "task": "monitor_degradation_level",
    "interval": {"every": 30, "period": "seconds"},
    # A run that waited longer than its interval is stale: the next one is on its way.
    "expire_seconds": 30,
    "description": "Reads the breakers and health checks, applies DEGRADATION_RULES with hysteresis and "
    "ends expired operator overrides (DESIGN 7).",
}


def seed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    interval, _ = IntervalSchedule.objects.get_or_create(**JOB["interval"])
    PeriodicTask.objects.get_or_create(
        name=JOB["name"],
        defaults={
            "task": JOB["task"],
            "kwargs": json.dumps({}),
            "description": JOB["description"],
            "expire_seconds": JOB["expire_seconds"],
            "enabled": True,
            "interval": interval,
        },
    )


def unseed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=JOB["name"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reliability", "0007_degradation_state_and_events"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
