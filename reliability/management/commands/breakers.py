"""``manage.py breakers list|reset|force-open|disable|metrics-only|normal``: breakers from a shell.

Exit codes: 0 done, 1 the action makes no sense in the breaker's state, 2 unknown
breaker or bad arguments. Actions are audited as ``cli:<OS user>``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from reliability.breaker.selectors import UnknownBreaker
from reliability.breaker.services import BreakerActionRefused
from reliability.breaker_ops import BREAKER_ACTIONS, breaker_action_run, breaker_live_list
from reliability.management.base import CHANNEL, OperatorCommand, os_user

COLUMNS = ("NAME", "STATE", "FAILURE RATE", "CONSECUTIVE FAILURES", "OPEN UNTIL")


class Command(OperatorCommand):
    help = "List circuit breakers or change one breaker's state (audited as the OS user)."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        commands.add_parser("list", help="State, failure rate, consecutive failures and open time of every breaker.")
        for action in BREAKER_ACTIONS.values():
            # DESIGN's runbooks say `breakers force NAME`.
            aliases = ["force"] if action.slug == "force-open" else []
            sub = commands.add_parser(action.slug, aliases=aliases, help=f"The breaker will be {action.effect}.")
            sub.set_defaults(slug=action.slug)
            sub.add_argument("name", help="Breaker name, as shown by `breakers list`.")
            sub.add_argument("--reason", default="", help="Kept in the transition history and the audit trail.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] == "list":
            self._list()
            return
        action = BREAKER_ACTIONS[options["slug"]]
        try:
            transition = breaker_action_run(
                slug=action.slug, name=options["name"], actor=os_user(), channel=CHANNEL, reason=options["reason"]
            )
        except UnknownBreaker as exc:
            raise CommandError(str(exc), returncode=2) from None
        except BreakerActionRefused as exc:
            raise CommandError(str(exc), returncode=1) from None
        self.stdout.write(
            self.style.SUCCESS(f"{options['name']}: {transition.from_state} -> {transition.to_state} ({action.past})")
        )

    def _list(self) -> None:
        rows = [COLUMNS]
        for name, item in breaker_live_list():
            if item is None:
                rows.append((name, "unknown (store unreachable)", "-", "-", "-"))
                continue
            until = item["open_until"]
            rows.append(
                (
                    item["name"],
                    item["state"],
                    f"{item['failure_rate']:.1%} of {item['calls_in_window']}",
                    str(item["consecutive_failures"]),
                    f"{until:%Y-%m-%d %H:%M:%S} UTC" if until is not None else "-",
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
