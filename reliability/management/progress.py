"""Progress of a long command: a bar on a terminal, plain lines otherwise.

On a terminal the bar redraws itself on one line (at most ten times a second); anywhere
else (a pipe, a log file, cron) it writes a plain line every ``every`` items and at the
end, which a log keeps readable. Services report progress through a callback
``progress(done, total, note)`` and never learn whether a person is watching.
"""

from __future__ import annotations

import time
from collections.abc import Callable

ProgressCallback = Callable[[int, int, str], None]
BAR_WIDTH = 30
REDRAW_SECONDS = 0.1


class Progress:
    """Call it with ``(done, total, note)`` as work advances; ``close()`` ends the bar's line."""

    def __init__(
        self,
        *,
        label: str,
        write: Callable[[str], None],
        tty: bool,
        every: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.write = write
        self.tty = tty
        self.every = max(1, every)
        self.clock = clock
        self.started = clock()
        self.drawn_at: float | None = None
        self.printed = 0
        self.open_line = False

    def __call__(self, done: int, total: int, note: str = "") -> None:
        if self.tty:
            now = self.clock()
            if done < total and self.drawn_at is not None and now - self.drawn_at < REDRAW_SECONDS:
                return
            self.drawn_at = now
            self.write("\r\x1b[2K" + self._bar(done, total, note))
            self.open_line = True
        elif done != self.printed and (done >= total or done - self.printed >= self.every):
            self.printed = done
            percent = f" ({done * 100 // total}%)" if total else ""
            self.write(f"{self.label}: {done}/{total}{percent}{f' {note}' if note else ''}\n")

    def _bar(self, done: int, total: int, note: str) -> str:
        share = done / total if total else 1.0
        filled = int(BAR_WIDTH * share)
        elapsed = self.clock() - self.started
        rate = f" {done / elapsed:.1f}/s" if elapsed > 0 and done else ""
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"{self.label} [{bar}] {done}/{total} {share:4.0%}{rate}{f' {note}' if note else ''}"

    def close(self) -> None:
        if self.open_line:
            self.write("\n")
            self.open_line = False
