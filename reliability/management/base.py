"""What the on-call commands (``breakers``, ``dlq``) share: their base class and who runs them."""

from __future__ import annotations

import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from config.unavailable import UNAVAILABLE_ERRORS, dependency_name
from reliability.management.progress import Progress

# The channel of the command line in the audit trail: ``cli:<OS user>``.
CHANNEL = "cli"
# Without a terminal, a long command writes a progress line every this many items.
PROGRESS_LINE_EVERY = 50


def os_user() -> str:
    """Who ran the command, for the audit trail (a container may have no passwd entry)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


class OperatorCommand(BaseCommand):
    """A lost Redis or database is one readable line and exit code 1, not a traceback.

    Long runs show their progress on stderr (``progress()``), so stdout keeps only the result.
    """

    def progress(self, *, label: str, every: int = PROGRESS_LINE_EVERY) -> Progress:
        def write(text: str) -> None:
            self.stderr.write(text, style_func=str, ending="")
            self.stderr.flush()

        return Progress(label=label, write=write, tty=self.stderr.isatty(), every=every)

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except (*UNAVAILABLE_ERRORS, RedisError) as exc:
            raise CommandError(
                f"{dependency_name(exc)} is unavailable ({type(exc).__name__}); try again shortly",
                returncode=1,
            ) from None
