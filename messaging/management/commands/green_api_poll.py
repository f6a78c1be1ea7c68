"""``manage.py green_api_poll [--once] [--receive-timeout S]``: receive without a public webhook URL.

For a developer whose machine Green API cannot reach: receiveNotification, store the
event through the same ingest as the webhook, and deleteNotification only once it is
stored (a duplicate counts as stored). One line per notification. Green API errors are
reported as one line and retried with a growing pause; ``--once`` handles at most one
notification and exits 1 on an error. Exit codes: 0 done or stopped with Ctrl-C, 1 Green
API or the database failed, 2 bad arguments or an event of another instance (check
GREEN_API_ID_INSTANCE).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import close_old_connections

from messaging.clients.green_api import get_green_api_client
from messaging.services.ingest import WebhookRejected, notification_ingest
from reliability.errors import ReliabilityError
from reliability.management.base import OperatorCommand

BAD_ARGUMENTS = 2
MAX_PAUSE = 30.0


class Command(OperatorCommand):
    help = "Receive Green API notifications by polling (receiveNotification) into the webhook's ingest."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="handle at most one notification, then exit")
        parser.add_argument(
            "--receive-timeout", type=int, default=5, help="seconds Green API may hold each request (5-60)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        receive_timeout = options["receive_timeout"]
        if not 5 <= receive_timeout <= 60:
            raise CommandError("--receive-timeout must be between 5 and 60 seconds", returncode=BAD_ARGUMENTS)
        once = options["once"]
        pause = 1.0
        try:
            with get_green_api_client() as client:
                while True:
                    try:
                        handled = self._poll_one(client, receive_timeout)
                    except ReliabilityError as exc:
                        if once:
                            raise CommandError(f"Green API: {exc}", returncode=1) from None
                        self.stderr.write(f"Green API: {exc}; trying again in {pause:.0f} s")
                        time.sleep(pause)
                        pause = min(pause * 2, MAX_PAUSE)
                        continue
                    pause = 1.0
                    if once:
                        if not handled:
                            self.stdout.write("no notification waiting")
                        return
                    # A long-running loop: drop a database connection that went stale meanwhile.
                    close_old_connections()
        except KeyboardInterrupt:
            self.stdout.write("stopped")

    def _poll_one(self, client: Any, receive_timeout: int) -> bool:
        notification = client.receive_notification(receive_timeout=receive_timeout)
        if notification is None:
            return False
        try:
            result = notification_ingest(notification=notification)
        except WebhookRejected as exc:
            raise CommandError(f"{exc.message}: check GREEN_API_ID_INSTANCE", returncode=BAD_ARGUMENTS) from None
        except ValueError as exc:
            raise CommandError(str(exc), returncode=1) from None
        client.delete_notification(result.receipt_id)
        detail = f" ({result.reason})" if result.reason else ""
        self.stdout.write(f"receipt {result.receipt_id}: {result.type_webhook or 'event'} {result.outcome}{detail}")
        return True
