"""Migration 0006 runs today's redaction over letters stored before it existed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("reliability", "0005_audit_action_names")
AFTER = ("reliability", "0006_dead_letters_redacted_again")
DEEPSEEK_KEY = "sk-abcdefghijklmnopqrstuvwxyz012345"


def migrate_to(target):
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def test_letters_stored_before_the_fix_lose_the_secrets_old_redaction_missed():
    old_apps = migrate_to(BEFORE)
    try:
        OldLetter = old_apps.get_model("reliability", "DeadLetter")
        OldAttempt = old_apps.get_model("reliability", "DeadLetterAttempt")
        leaky = OldLetter.objects.create(
            message_type="whatsapp_message",
            payload={"headers": [["Authorization", "Token tok-0123456789"]], "key": "hunter2-secret"},
            error_class="RuntimeError",
            error_message=f"DeepSeek refused {DEEPSEEK_KEY}",
            traceback='{\\"password\\": \\"pw-0123456789\\"}',
            fingerprint="f" * 64,
            first_error={"message": "Authorization: Basic dXNlcjpwYXNz"},
        )
        clean = OldLetter.objects.create(
            message_type="whatsapp_message",
            payload={"chatId": "79001234567@c.us"},
            error_class="X",
            fingerprint="e" * 64,
        )
        OldAttempt.objects.create(letter=leaky, reason=f"again {DEEPSEEK_KEY}", outcome="failed")

        new_apps = migrate_to(AFTER)
        Letter = new_apps.get_model("reliability", "DeadLetter")
        stored = repr(list(Letter.objects.values()))
        stored += repr(list(new_apps.get_model("reliability", "DeadLetterAttempt").objects.values()))
        for secret in ("tok-0123456789", "hunter2-secret", DEEPSEEK_KEY, "pw-0123456789", "dXNlcjpwYXNz"):
            assert secret not in stored
        assert Letter.objects.get(pk=clean.pk).payload == {"chatId": "79001234567@c.us"}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
