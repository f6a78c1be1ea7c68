"""Letters stored before redaction learnt ``Token``/``Basic`` credentials, header pairs,
secrets in dict keys, bytes, escaped JSON and bare DeepSeek keys may still hold them:
run the current redaction over every stored letter and attempt once more.

Redaction is idempotent, so a row it does not change is not written.
"""

from django.db import migrations

from reliability.redaction import redact, redact_text

CHUNK = 500
LETTER_JSON = ("payload", "first_error")
LETTER_TEXT = ("error_message", "traceback", "settled_reason")


def _redact_rows(model, json_fields, text_fields):
    last_id = 0
    while rows := list(model.objects.filter(id__gt=last_id).order_by("id")[:CHUNK]):
        last_id = rows[-1].id
        changed = []
        for row in rows:
            before = [getattr(row, name) for name in (*json_fields, *text_fields)]
            for name in json_fields:
                setattr(row, name, redact(getattr(row, name)))
            for name in text_fields:
                setattr(row, name, redact_text(getattr(row, name)))
            if [getattr(row, name) for name in (*json_fields, *text_fields)] != before:
                changed.append(row)
        if changed:
            model.objects.bulk_update(changed, [*json_fields, *text_fields])


def forwards(apps, schema_editor):
    _redact_rows(apps.get_model("reliability", "DeadLetter"), LETTER_JSON, LETTER_TEXT)
    _redact_rows(apps.get_model("reliability", "DeadLetterAttempt"), (), ("reason",))


class Migration(migrations.Migration):
    dependencies = [
        ("reliability", "0005_audit_action_names"),
    ]

    operations = [
        # What was masked cannot be unmasked: going back leaves the rows as they are.
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
