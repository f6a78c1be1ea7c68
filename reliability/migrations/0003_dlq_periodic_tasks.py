"""Seed the dead letter queue's beat jobs as PeriodicTask rows, so operators can edit them."""

import json

from django.db import migrations

JOBS = [
    {
        "name": "Replay the dead letter queue",
        "task": "process_dead_letter_queue_batch",
        "kwargs": {"batch_size": 20},
        "interval": {"every": 5, "period": "minutes"},
        "description": "Replays due dead letters with the recovery strategies (DESIGN 6).",
    },
    {
        "name": "Clean up old dead letters",
        "task": "cleanup_old_dlq_messages",
        "kwargs": {},
        "crontab": {"minute": "30", "hour": "3", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"},
        "description": "Deletes resolved and discarded letters older than DLQ_RETENTION_DAYS; never open ones.",
    },
]


def seed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    for job in JOBS:
        schedule = {}
        if "interval" in job:
            schedule["interval"], _ = IntervalSchedule.objects.get_or_create(**job["interval"])
        else:
            schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(**job["crontab"], timezone="UTC")
        PeriodicTask.objects.get_or_create(
            name=job["name"],
            defaults={
                "task": job["task"],
                "kwargs": json.dumps(job["kwargs"]),
                "description": job["description"],
                "enabled": True,
                **schedule,
            },
        )


def unseed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[job["name"] for job in JOBS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reliability", "0002_breaker_runtime"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
