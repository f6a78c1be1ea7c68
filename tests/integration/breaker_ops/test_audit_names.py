"""Audit actions are named ``<target>.<verb>``; migration 0005 renames the breaker actions
that earlier releases wrote as ``breaker_<verb>``."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from reliability.audit import AuditRecord
from reliability.breaker.services import breaker_update_config
from reliability.breaker_ops import breaker_action_run

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("reliability", "0004_deadletter_dedupe_key")
AFTER = ("reliability", "0005_audit_action_names")
OLD_TO_NEW = {
    "breaker_reset": "circuit_breaker.reset",
    "breaker_force_open": "circuit_breaker.force_open",
    "breaker_disable": "circuit_breaker.disable",
    "breaker_metrics_only": "circuit_breaker.metrics_only",
    "breaker_normalize": "circuit_breaker.normalize",
    "breaker_update_config": "circuit_breaker.update_config",
}


def migrate_to(target):
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def actions(apps) -> list[str]:
    return sorted(apps.get_model("reliability", "AuditRecord").objects.values_list("action", flat=True))


def test_migration_renames_the_old_breaker_actions_and_leaves_the_rest():
    old_apps = migrate_to(BEFORE)
    try:
        OldAuditRecord = old_apps.get_model("reliability", "AuditRecord")
        for action in [*OLD_TO_NEW, "dead_letter.replay"]:
            OldAuditRecord.objects.create(actor_label="cli:root", action=action, target_type="x", target_id="1")

        assert actions(migrate_to(AFTER)) == sorted([*OLD_TO_NEW.values(), "dead_letter.replay"])
        assert actions(migrate_to(BEFORE)) == sorted([*OLD_TO_NEW, "dead_letter.replay"])  # and back
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_every_breaker_action_is_audited_as_circuit_breaker_dot_verb(superuser):
    for slug in ("force-open", "normal", "disable", "metrics-only", "reset"):
        breaker_action_run(slug=slug, name="green_api", actor=superuser, channel="api")
    breaker_update_config(name="green_api", changes={"failure_threshold": 7}, actor=superuser, channel="api")

    assert list(AuditRecord.objects.order_by("id").values_list("action", flat=True)) == [
        "circuit_breaker.force_open",
        "circuit_breaker.normalize",
        "circuit_breaker.disable",
        "circuit_breaker.metrics_only",
        "circuit_breaker.reset",
        "circuit_breaker.update_config",
    ]
