"""Seed the monitoring beat jobs as PeriodicTask rows, so operators can edit them.

The breaker monitor (a reliability task) is seeded here with the health monitor: they are
the two monitoring jobs of DESIGN 10, and this keeps them out of reliability's numbered
migrations, which other changes extend.
"""

import json

from django.db import migrations

JOBS = [
    {
        "name": "Run the health checks",
        "task": "health_check_monitoring",
        "interval": {"every": 1, "period": "minutes"},
        "description": "Runs every health check, counts it (health_check_total, health_check_duration_seconds) and "
        "stores the results that health_check_status and the last health results show (DESIGN 9, 10).",
    },
    {
        "name": "Monitor the circuit breakers",
        "task": "monitor_circuit_breakers",
        "interval": {"every": 2, "period": "minutes"},
        "description": "Logs every breaker's live state; open ones as warnings. Alerts come from circuit_breaker_state "
        "(DESIGN 4, 10).",
    },
]


def seed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    for job in JOBS:
        interval, _ = IntervalSchedule.objects.get_or_create(**job["interval"])
        every = job["interval"]["every"] * 60
        PeriodicTask.objects.get_or_create(
            name=job["name"],
            defaults={
                "task": job["task"],
                "kwargs": json.dumps({}),
                "description": job["description"],
                # A run that waited longer than its interval is stale: the next one is on its way.
                "expire_seconds": every,
                "enabled": True,
                "interval": interval,
            },
        )


def unseed(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[job["name"] for job in JOBS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("health", "0001_health_results_and_worker_heartbeats"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
