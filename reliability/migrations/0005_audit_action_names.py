"""Audit actions are named ``<target>.<verb>`` everywhere (``dead_letter.replay`` already
was); the circuit breaker actions written before this used ``breaker_<verb>``."""

from django.db import migrations

RENAMED = {
    "breaker_reset": "circuit_breaker.reset",
    "breaker_force_open": "circuit_breaker.force_open",
    "breaker_disable": "circuit_breaker.disable",
    "breaker_metrics_only": "circuit_breaker.metrics_only",
    "breaker_normalize": "circuit_breaker.normalize",
    "breaker_update_config": "circuit_breaker.update_config",
}


def rename(apps, names):
    AuditRecord = apps.get_model("reliability", "AuditRecord")
    for old, new in names.items():
        AuditRecord.objects.filter(action=old).update(action=new)


def forwards(apps, schema_editor):
    rename(apps, RENAMED)


def backwards(apps, schema_editor):
    rename(apps, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("reliability", "0004_deadletter_dedupe_key"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
