"""``manage.py green_api_setup [--webhook-url URL] [--dry-run]``: point the Green API instance here.

Reads the instance's settings (getSettings), says what differs from what this service
needs (its webhook URL and token, and the incoming, outgoing-status, API-message and
state webhooks on), and changes only that (setSettings). The webhook token is never
printed. Exit codes: 0 done (or nothing to do), 1 Green API or a store failed, 2 bad
arguments or settings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from messaging.clients.green_api import get_green_api_client
from messaging.services.instance import green_api_settings_changes
from reliability.errors import ReliabilityError
from reliability.management.base import OperatorCommand

BAD_ARGUMENTS = 2


class Command(OperatorCommand):
    help = "Point the Green API instance's webhooks at this service (setSettings), printing what changes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--webhook-url", help="where Green API should POST (default: GREEN_API_WEBHOOK_URL)")
        parser.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        url = options["webhook_url"] or settings.GREEN_API_WEBHOOK_URL
        if not url:
            raise CommandError(
                "no webhook URL: pass --webhook-url or set GREEN_API_WEBHOOK_URL", returncode=BAD_ARGUMENTS
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CommandError(f"--webhook-url must be an http(s) URL, not {url!r}", returncode=BAD_ARGUMENTS)
        if not settings.GREEN_API_WEBHOOK_TOKEN:
            raise CommandError("GREEN_API_WEBHOOK_TOKEN is not set", returncode=BAD_ARGUMENTS)
        try:
            with get_green_api_client() as client:
                changes = green_api_settings_changes(current=client.get_settings(), webhook_url=url)
                for line in changes.describe():
                    self.stdout.write(line)
                if not changes.values:
                    self.stdout.write(
                        self.style.SUCCESS("Green API already sends its webhooks here: nothing to change")
                    )
                    return
                if options["dry_run"]:
                    self.stdout.write("dry run: nothing changed")
                    return
                if not client.set_settings(changes.values):
                    raise CommandError("Green API did not save the settings (saveSettings false)", returncode=1)
        except ReliabilityError as exc:
            raise CommandError(f"Green API: {exc}", returncode=1) from None
        self.stdout.write(
            self.style.SUCCESS(f"saved {len(changes.values)} setting(s); Green API applies them within 5 minutes")
        )
