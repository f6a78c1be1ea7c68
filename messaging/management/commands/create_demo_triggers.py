"""Seed the development triggers that answer ``python -m sandbox play``'s sample conversation.

Idempotent (by name; a trigger edited in the admin is left as it is) and refused in
production, where automatic replies are the operator's decision.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from messaging.services.triggers import triggers_demo_seed


class Command(BaseCommand):
    help = "Create the demo triggers (development only) that reply to the sandbox's sample conversation."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.APP_ENV == "production":
            raise CommandError("refusing to create demo triggers with APP_ENV=production")
        created = triggers_demo_seed()
        self.stdout.write(f"  Demo triggers: {', '.join(created) if created else 'already there'}\n")
