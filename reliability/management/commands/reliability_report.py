"""``manage.py reliability_report``: what the breakers, the DLQ, degradation, health and
messaging did over a period, built fresh from the histories.

    reliability_report [--since 24h | --since 2026-11-01T00:00Z] [--until ISO] [--format json|text]

Exit status: 0 done, 1 the database is unavailable, 2 a bad argument (one line saying why).
Progress goes to stderr, a bar on a terminal, one line per step otherwise; the report to stdout.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any, NoReturn

from django.core.management.base import CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from reliability.management.base import OperatorCommand
from reliability.reports.period import DEFAULT_SINCE, InvalidReportPeriod, report_period_parse
from reliability.reports.services import reliability_report_build
from reliability.reports.text import report_text

BAD_ARGUMENTS = 2
FORMATS = ("json", "text")


class Command(OperatorCommand):
    help = "Build the reliability report of a period (default: the last 24 hours)."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)

        def error(message: str) -> NoReturn:
            # One line and exit 2, as for every other bad argument (argparse prints its usage too).
            if not parser.called_from_command_line:
                raise CommandError(f"Error: {message}", returncode=BAD_ARGUMENTS)
            parser.exit(BAD_ARGUMENTS, f"CommandError: {message} (see --help)\n")

        parser.error = error
        return parser

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--since",
            default=DEFAULT_SINCE,
            help="a duration back from --until (90m, 24h, 7d, 2w; at most 366 days) or an ISO 8601 time",
        )
        parser.add_argument("--until", help="an ISO 8601 time (default: now); times without a zone are UTC")
        parser.add_argument("--format", default="text", help="json or text (default)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["format"] not in FORMATS:
            raise CommandError(
                f"--format {options['format'][:20]!r} is not one of: {', '.join(FORMATS)}", returncode=BAD_ARGUMENTS
            )
        try:
            period = report_period_parse(since=options["since"], until=options["until"], now=timezone.now())
        except InvalidReportPeriod as exc:
            raise CommandError(str(exc), returncode=BAD_ARGUMENTS) from None
        progress = self.progress(label="report", every=1)
        try:
            report = reliability_report_build(since=period.since, until=period.until, progress=progress)
        finally:
            progress.close()
        if options["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2, cls=DjangoJSONEncoder, ensure_ascii=False))
        else:
            self.stdout.write(report_text(report))
