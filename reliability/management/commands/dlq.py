"""``manage.py dlq``: the dead letter queue for whoever is on call.

    dlq list [--status S] [--type T] [--fingerprint F] [--limit N]   (F: a unique prefix, 8+ characters)
    dlq show ID
    dlq replay  (IDS... | --type T | --fingerprint F | --status S | --all) [--dry-run] [--limit N] [--rate R]
    dlq discard (IDS... | filters) --reason R [--dry-run] [--limit N]
    dlq resolve (IDS... | filters) [--reason R] [--dry-run] [--limit N]

Filters select a snapshot of ids once, oldest first, and the action applies to exactly
that snapshot. Without ``--status`` a filter selects the letters an operator may act on
(``operator_actionable``: pending, exhausted, and retrying ones whose lease expired).
Exit status: 0 all done, 1 some letters failed or were skipped, 2 bad arguments (no
selector, an unknown id, discard without a reason). The services write one audit record
per letter as ``cli:<OS user>``, and a log line with the ``--reason``.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser, Namespace
from collections.abc import Sequence
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.timesince import timesince

from reliability.dlq.exceptions import (
    DeadLetterNotFound,
    FingerprintAmbiguous,
    FingerprintNotFound,
    FingerprintPrefixInvalid,
)
from reliability.dlq.models import DeadLetterStatus
from reliability.dlq.selectors import (
    dead_letter_fingerprint_resolve,
    dead_letter_get,
    dead_letter_ids,
    dead_letter_list,
    fingerprint_short,
)
from reliability.dlq.services import BulkResult, dead_letter_discard, dead_letter_replay_many, dead_letter_resolve
from reliability.management.base import CHANNEL, OperatorCommand, os_user

BAD_ARGUMENTS = 2
SOME_FAILED = 1
DONE = {"replay": "replayed", "discard": "discarded", "resolve": "resolved"}


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _ago(value: Any, depth: int = 1) -> str:
    return timesince(value, depth=depth).replace("\xa0", " ")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


class Command(OperatorCommand):
    help = "List, show, replay, discard or resolve dead letters."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{list,show,replay,discard,resolve}")

        listing = sub.add_parser("list", help="the newest letters, as a table")
        self._add_filters(listing)
        listing.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")

        show = sub.add_parser("show", help="one letter: fields, payload, errors, history")
        show.add_argument("id")

        for name, text in (
            ("replay", "replay letters now, through their handlers"),
            ("discard", "give up on letters for good (needs --reason)"),
            ("resolve", "mark letters resolved (the work was done another way)"),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("ids", nargs="*", help="letter ids; or select with the filters")
            self._add_filters(action)
            action.add_argument("--all", action="store_true", help="every letter an operator may act on")
            action.add_argument("--limit", type=int, help="act on at most N letters (oldest first)")
            action.add_argument("--dry-run", action="store_true", help="show what would happen, change nothing")
            if name == "replay":
                action.add_argument("--rate", type=float, help="letters per second per type")
            else:
                action.add_argument("--reason", default="", help="why (required for discard)")

    @staticmethod
    def _add_filters(parser: ArgumentParser) -> None:
        parser.add_argument("--status", choices=[s.value for s in DeadLetterStatus])
        parser.add_argument("--type", dest="message_type", metavar="TYPE")
        parser.add_argument("--fingerprint", help="a unique prefix of 8 or more characters, as `dlq list` shows")

    def handle(self, *args: Any, **options: Any) -> None:
        opts = Namespace(**options)
        if getattr(opts, "fingerprint", None) is not None:
            try:
                opts.fingerprint = dead_letter_fingerprint_resolve(prefix=opts.fingerprint)
            except (FingerprintPrefixInvalid, FingerprintNotFound, FingerprintAmbiguous) as exc:
                raise CommandError(str(exc), returncode=BAD_ARGUMENTS) from None
        if opts.subcommand == "list":
            self._list(opts)
        elif opts.subcommand == "show":
            self._show(opts.id)
        else:
            self._act(opts)

    # --- Reading --------------------------------------------------------------------------------

    def _list(self, opts: Namespace) -> None:
        if opts.limit <= 0:
            raise CommandError("--limit must be positive", returncode=BAD_ARGUMENTS)
        letters = dead_letter_list(status=opts.status, message_type=opts.message_type, fingerprint=opts.fingerprint)[
            : opts.limit
        ]
        rows = [
            (
                letter.pk,
                letter.message_type,
                letter.status,
                f"{letter.attempts}/{letter.max_retries}",
                fingerprint_short(letter.fingerprint),
                letter.error_class.rsplit(".", 1)[-1],
                _ago(letter.created_at),
                _when(letter.next_retry_at),
                Truncator(letter.error_message.replace("\n", " ")).chars(60),
            )
            for letter in letters
        ]
        if not rows:
            self.stdout.write("No dead letters match.")
            return
        headers = ("ID", "TYPE", "STATUS", "ATTEMPTS", "FINGERPRINT", "ERROR", "AGE", "NEXT RETRY", "MESSAGE")
        self.stdout.write(_table(headers, rows))

    def _show(self, raw_id: str) -> None:
        try:
            letter = dead_letter_get(letter_id=int(raw_id))
        except ValueError:
            raise CommandError(f"not a dead letter id: {raw_id!r}", returncode=BAD_ARGUMENTS) from None
        except DeadLetterNotFound as exc:
            raise CommandError(str(exc), returncode=BAD_ARGUMENTS) from None
        fields = [
            ("id", letter.pk),
            ("type", letter.message_type),
            ("status", letter.status),
            ("failure kind", letter.failure_kind),
            ("source", letter.source or "-"),
            ("fingerprint", letter.fingerprint),
            ("breaker", letter.breaker_name or "-"),
            ("attempts", f"{letter.attempts}/{letter.max_retries}"),
            ("next retry", _when(letter.next_retry_at)),
            ("created", f"{_when(letter.created_at)} ({_ago(letter.created_at, depth=2)} ago)"),
            ("updated", _when(letter.updated_at)),
            ("settled", _when(letter.settled_at)),
            ("settled by", letter.settled_by.get_username() if letter.settled_by_id else "-"),
            ("reason", letter.settled_reason or "-"),
            ("error class", letter.error_class),
            ("error", letter.error_message),
        ]
        width = max(len(name) for name, _ in fields)
        out = [f"{name.ljust(width)}  {value}" for name, value in fields]
        out += ["", "Payload:", json.dumps(letter.payload, indent=2, sort_keys=True, ensure_ascii=False)]
        out += ["", "First failure:", json.dumps(letter.first_error, indent=2, sort_keys=True, ensure_ascii=False)]
        out += ["", "Traceback:", letter.traceback or "-", "", "History:"]
        history = [
            (_when(a.attempted_at), a.outcome, a.failure_kind or "-", a.error_class or "-", a.reason)
            for a in letter.history.all()
        ]
        out.append(_table(("AT", "OUTCOME", "KIND", "ERROR", "REASON"), history) if history else "-")
        self.stdout.write("\n".join(out))

    # --- Acting ---------------------------------------------------------------------------------

    def _act(self, opts: Namespace) -> None:
        reason = (getattr(opts, "reason", "") or "").strip()
        if opts.subcommand == "discard" and not reason:
            raise CommandError("discard needs --reason: say why these letters are given up", returncode=BAD_ARGUMENTS)
        if opts.limit is not None and opts.limit <= 0:
            raise CommandError("--limit must be positive", returncode=BAD_ARGUMENTS)
        rate = getattr(opts, "rate", None)
        if rate is not None and rate <= 0:
            raise CommandError("--rate must be positive", returncode=BAD_ARGUMENTS)
        ids = self._select(opts)
        if not ids:
            self.stdout.write("No dead letters match: nothing to do.")
            return
        actor = os_user()
        try:
            if opts.subcommand == "replay":
                progress = self.progress(label="replay")
                try:
                    result = dead_letter_replay_many(
                        letter_ids=ids, actor=actor, channel=CHANNEL, dry_run=opts.dry_run, rate=rate, progress=progress
                    )
                finally:
                    progress.close()
            else:
                settle = dead_letter_discard if opts.subcommand == "discard" else dead_letter_resolve
                result = settle(letter_ids=ids, reason=reason, actor=actor, channel=CHANNEL, dry_run=opts.dry_run)
        except DeadLetterNotFound as exc:
            raise CommandError(str(exc), returncode=BAD_ARGUMENTS) from None
        self._report(result)

    def _select(self, opts: Namespace) -> list[int]:
        """The explicit ids, or a snapshot of the ids the filters match now."""
        filters = {"status": opts.status, "message_type": opts.message_type, "fingerprint": opts.fingerprint}
        has_filter = any(filters.values())
        if opts.ids:
            if has_filter or opts.all:
                raise CommandError("give letter ids or filters, not both", returncode=BAD_ARGUMENTS)
            try:
                ids = list(dict.fromkeys(int(i) for i in opts.ids))
            except ValueError:
                raise CommandError(f"letter ids are integers: {' '.join(opts.ids)}", returncode=BAD_ARGUMENTS) from None
            return ids[: opts.limit] if opts.limit is not None else ids
        if not has_filter and not opts.all:
            raise CommandError(
                f"say which letters: IDS, --type, --fingerprint, --status or --all (see dlq {opts.subcommand} --help)",
                returncode=BAD_ARGUMENTS,
            )
        # Without --status: the letters an operator may act on (operator_actionable).
        return dead_letter_ids(limit=opts.limit, actionable=not filters["status"], **filters)

    def _report(self, result: BulkResult) -> None:
        outcomes = {r.letter_id: r for r in result.results}
        rows = []
        for letter_id, planned in result.planned.items():
            if result.dry_run or letter_id not in outcomes:
                rows.append((letter_id, planned, "-", "-"))
            else:
                outcome = outcomes[letter_id]
                rows.append((letter_id, planned, outcome.outcome, outcome.status))
        last = "WOULD" if result.dry_run else "PLAN"
        self.stdout.write(_table(("ID", last, "OUTCOME", "STATUS"), rows))
        skipped = len(result.skipped)
        if result.dry_run:
            self.stdout.write(
                f"Dry run: would {result.action} {result.count} of {len(result.letter_ids)}, "
                f"skip {skipped}. Nothing was changed."
            )
            return
        if result.action == "replay":
            resolved = sum(1 for r in result.results if r.resolved)
            summary = f"{resolved} resolved, {len(result.results) - resolved} failed, {skipped} skipped"
        else:
            summary = f"{result.count} {DONE[result.action]}, {skipped} skipped"
        self.stdout.write(f"{result.action.capitalize()}: {summary} (of {len(result.letter_ids)}) at {_now()}.")
        if result.failed:
            raise CommandError(
                f"{len(result.failed)} of {len(result.letter_ids)} letters were not {DONE[result.action]}: "
                + ", ".join(f"#{i}" for i in result.failed[:20])
                + (" …" if len(result.failed) > 20 else ""),
                returncode=SOME_FAILED,
            )


def _now() -> str:
    return timezone.now().strftime("%Y-%m-%d %H:%M:%S UTC")
