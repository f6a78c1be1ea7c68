"""The report as text for a terminal: ``reliability_report --format text``."""

from __future__ import annotations

from typing import Any

from reliability.reports.registry import report_sections


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes else []
    return " ".join(parts + ([f"{secs}s"] if secs or not parts else []))


def _table(headers: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    cells = [list(headers)] + [[str(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def report_text(report: dict[str, Any]) -> str:
    period = report["period"]
    out = [f"Reliability report {period['since']} to {period['until']} ({_duration(period['seconds'])})", ""]

    out.append("Circuit breakers")
    rows = [
        (name, _duration(b["open_seconds"]), f"{b['open_ratio']:.2%}", b["opened"], b["transitions"])
        for name, b in report["breakers"].items()
    ]
    out += _table(("BREAKER", "OPEN", "OPEN %", "OPENED", "TRANSITIONS"), rows) if rows else ["-"]

    dlq = report["dead_letters"]
    oldest = f", oldest since {dlq['oldest_waiting_at_end']}" if dlq["oldest_waiting_at_end"] else ""
    out += [
        "",
        "Dead letters",
        f"in {dlq['added']}, out {dlq['out']} (resolved {dlq['resolved']}, discarded {dlq['discarded']}); "
        f"waiting {dlq['waiting_at_start']} at the start, {dlq['waiting_at_end']} at the end{oldest}",
    ]
    rows = [
        (kind, t["added"], t["resolved"], t["discarded"], t["waiting_at_end"]) for kind, t in dlq["by_type"].items()
    ]
    if rows:
        out += _table(("TYPE", "IN", "RESOLVED", "DISCARDED", "WAITING"), rows)

    levels = report["degradation"]
    out += ["", "Degradation", f"highest level {levels['highest_level']}, {levels['changes']} changes"]
    out += _table(
        ("LEVEL", "TIME"), [(level, _duration(seconds)) for level, seconds in levels["seconds_by_level"].items()]
    )

    for section in report_sections():
        data = report.get("sections", {}).get(section.name)
        if data is None:
            continue
        out += ["", section.title]
        out += section.text(data) if section.text is not None else [str(data)]
    return "\n".join(out)
