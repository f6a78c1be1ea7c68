"""Run every benchmark and write the figures to docs/performance.md.

Each ``bench/<topic>.py`` has ``main() -> str`` returning a Markdown section; run one
alone with ``python -m tests.services -- python -m bench.<topic>``. ``make bench`` runs
them all against the throwaway PostgreSQL and Redis of ``tests.services``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
from pathlib import Path

TOPICS = ["breaker", "dlq", "degradation", "ingest", "e2e"]
OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("APP_ENV", "testing")
    import django

    django.setup()
    topics = argv or TOPICS
    sections = []
    for topic in topics:
        print(f"== bench.{topic}", flush=True)
        section = importlib.import_module(f"bench.{topic}").main()
        print(section, flush=True)
        sections.append(section)
    if argv:
        return 0  # a partial run does not overwrite the full report
    header = (
        "# Performance\n\n"
        "Made by `make bench` (all figures measured in one run, on "
        f"{platform.machine()} with {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{dt.date.today().isoformat()}). Ratios compare against a baseline measured in the same run.\n"
    )
    OUTPUT.write_text(header + "\n" + "\n".join(sections))
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
