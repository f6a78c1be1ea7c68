"""Seed the hourly reliability report as a PeriodicTask row, so operators can edit it."""

import json

from django.db import migrations

JOB = {
    "name": "Generate the reliability report",
    "task": "generate_reliability_report",
    # A few minutes past each hour, so the hour it reports on is complete.
    "crontab": {"minute": "5", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"},
    # A run that waited this long is stale; the next hour's run reports its own hour.
    "expire_seconds": 3000,
    "description": "Stores the report of the last whole hour: breakers, dead letters, degradation, health and "
    "messaging (DESIGN 10). Reports older than RELIABILITY_REPORT_RETENTION_DAYS are deleted.",
}


def seed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    crontab, _ = CrontabSchedule.objects.get_or_create(**JOB["crontab"], timezone="UTC")
    PeriodicTask.objects.get_or_create(
        name=JOB["name"],
        defaults={
            "task": JOB["task"],
            "kwargs": json.dumps({}),
            "description": JOB["description"],
            "expire_seconds": JOB["expire_seconds"],
            "enabled": True,
            "crontab": crontab,
        },
    )


def unseed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=JOB["name"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reliability", "0009_reliability_reports_and_dlq_period_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
