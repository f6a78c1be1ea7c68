"""``manage.py degradation show | set LEVEL --reason R [--for 30m] | clear --reason R | evaluate``.

Exit codes: 0 done, 1 refused (``clear`` with no override in force) or a store is down,
2 bad arguments (an unknown level, listing the valid ones; a missing reason; an expiry that
is not a positive duration). Changes are audited as ``cli:<OS user>``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from reliability.degradation.levels import LEVEL_NAMES, InvalidDuration, UnknownLevel, duration_parse, level_parse
from reliability.degradation.selectors import degradation_events_recent, degradation_status
from reliability.degradation.services import (
    DegradationActionRefused,
    degradation_clear,
    degradation_evaluate,
    degradation_set_level,
    reason_check,
)
from reliability.degradation.state import LevelState
from reliability.management.base import CHANNEL, OperatorCommand, os_user

BAD_ARGUMENTS = 2
REFUSED = 1
EVENTS_SHOWN = 10


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else "-"


class Command(OperatorCommand):
    help = "Show the degradation level, set it by hand (with a reason and an optional expiry), or clear that."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        commands.add_parser("show", help="The level, where it comes from, the conditions seen, the gates, the history.")
        setter = commands.add_parser("set", help="Set the level by hand until --for ends or `clear`.")
        setter.add_argument("level", help=f"One of: {', '.join(LEVEL_NAMES)}.")
        setter.add_argument("--reason", default="", help="Why (required); kept in the history and the audit trail.")
        setter.add_argument("--for", dest="duration", help="How long: 900, 30m, 2h or 1d. Default: until cleared.")
        clear = commands.add_parser("clear", help="End the override: the rules set the level again.")
        clear.add_argument("--reason", default="", help="Why (required).")
        commands.add_parser("evaluate", help="Re-evaluate the rules now instead of waiting for the monitor.")

    def handle(self, *args: Any, **options: Any) -> None:
        command = options["command"]
        if command == "show":
            self._show()
            return
        if command == "evaluate":
            self._show(degradation_evaluate())
            return
        try:
            reason = reason_check(options["reason"])
        except ValueError as exc:
            raise CommandError(f"{command} needs --reason: {exc}", returncode=BAD_ARGUMENTS) from None
        if command == "set":
            try:
                level = level_parse(options["level"])
                seconds = duration_parse(options["duration"]) if options["duration"] is not None else None
            except (UnknownLevel, InvalidDuration) as exc:
                raise CommandError(str(exc), returncode=BAD_ARGUMENTS) from None
            state = degradation_set_level(
                level=level, reason=reason, expires_in=seconds, actor=os_user(), channel=CHANNEL
            )
            expires = degradation_status(state=state)["expires_at"]
            until = f" until {_when(expires)}" if expires else " until cleared"
            self.stdout.write(self.style.SUCCESS(f"degradation level set to {level.slug}{until}"))
            return
        try:
            state = degradation_clear(reason=reason, actor=os_user(), channel=CHANNEL)
        except DegradationActionRefused as exc:
            raise CommandError(str(exc), returncode=REFUSED) from None
        self.stdout.write(
            self.style.SUCCESS(f"override cleared: level {degradation_status(state=state)['level']} (auto)")
        )

    def _show(self, state: LevelState | None = None) -> None:
        status = degradation_status(state=state)
        lines = [
            f"level        {status['level']} ({status['level_value']})",
            f"source       {status['source']}" + (f" ({status['set_by']})" if status["set_by"] else ""),
            f"reason       {status['reason'] or '-'}",
            f"since        {_when(status['since'])}",
            f"expires      {_when(status['expires_at']) if status['expires_at'] else '-'}",
            f"rules say    {status['auto_level']} ({status['auto_reason'] or '-'})",
        ]
        if status["step_down_level"] is not None:
            lines.append(
                f"stepping down to {status['step_down_level']}, asked for since {_when(status['step_down_since'])}"
            )
        lines.append(f"evaluated    {_when(status['evaluated_at'])}")
        if status["read_only"]:
            lines.append("read-only    writes are refused")
        if status["stale"]:
            lines.append("STALE        neither Redis nor the database answered: last state known to this process")
        lines += ["", "Conditions:"]
        width = max((len(name) for name in status["conditions"]), default=0)
        for name, seen in status["conditions"].items():
            met = {True: "HOLDS", False: "no", None: "unknown"}[seen["met"]]
            lines.append(f"  {name.ljust(width)}  {met:<7}  -> {seen['level']:<8}  {seen['detail']}")
        lines += ["", "Features:"]
        lines += [f"  {name:<20} {'on' if on else 'OFF'}" for name, on in status["features"].items()]
        lines += ["", "History (newest first):"]
        events = degradation_events_recent(limit=EVENTS_SHOWN)
        for event in events:
            lines.append(
                f"  {_when(event.created_at)}  {event.get_from_level_display().lower()} -> "
                f"{event.get_to_level_display().lower()}  {event.source:<8}  {event.actor_label}  {event.reason}"
            )
        if not events:
            lines.append("  -")
        self.stdout.write("\n".join(lines))
