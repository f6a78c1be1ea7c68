"""Charts as inline SVG, drawn on the server: no chart library, nothing for the browser to run.

Two kinds: a timeline (one row per subject, a coloured bar per stretch in a state) and a
line chart (one line per series over time buckets). Every text in them is escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH = 760
LABEL_WIDTH = 120
RIGHT_PAD = 12
ROW_HEIGHT = 20
AXIS_HEIGHT = 22
LINE_HEIGHT = 150
PLOT_WIDTH = WIDTH - LABEL_WIDTH - RIGHT_PAD


@dataclass(frozen=True)
class Segment:
    start: dt.datetime
    end: dt.datetime
    state: str


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    points: Sequence[tuple[dt.datetime, float | None]]


def _x(moment: dt.datetime, since: dt.datetime, until: dt.datetime) -> float:
    share = (moment - since).total_seconds() / max((until - since).total_seconds(), 1.0)
    return round(LABEL_WIDTH + min(max(share, 0.0), 1.0) * PLOT_WIDTH, 1)


def _ticks(since: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    """Round times to label the x axis with: every 15 min up to 2 h, every 30 min up to 4 h, else hourly or more."""
    span_hours = (until - since).total_seconds() / 3600
    step = 15 if span_hours <= 2 else 30 if span_hours <= 4 else 60 * max(1, math.ceil(span_hours / 8))
    first = since.replace(second=0, microsecond=0)
    first += dt.timedelta(minutes=(-first.minute) % step if step < 60 else (60 - first.minute) % 60)
    ticks = []
    while first <= until:
        ticks.append(first)
        first += dt.timedelta(minutes=step)
    return ticks


def _axis(since: dt.datetime, until: dt.datetime, y: float) -> SafeString:
    ticks = format_html_join(
        "",
        '<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" class="tick"/><text x="{0}" y="{3}" text-anchor="middle">{4}</text>',
        ((_x(t, since, until), y, y + 4, y + 16, f"{t:%H:%M}") for t in _ticks(since, until)),
    )
    return format_html(
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="axis"/>{}', LABEL_WIDTH, WIDTH - RIGHT_PAD, y, y, ticks
    )


def _legend(items: Sequence[tuple[str, str]]) -> SafeString:
    return format_html_join(
        "",
        '<span class="legend-item"><span class="swatch" style="background:{}"></span>{}</span>',
        ((colour, name) for name, colour in items),
    )


def timeline_svg(
    *,
    rows: Sequence[tuple[str, Sequence[Segment]]],
    since: dt.datetime,
    until: dt.datetime,
    colours: dict[str, str],
    title: str,
) -> SafeString:
    """One row per subject; each stretch a bar in its state's colour, with its times on hover."""
    height = len(rows) * ROW_HEIGHT + AXIS_HEIGHT + 4
    body = []
    for index, (label, segments) in enumerate(rows):
        y = index * ROW_HEIGHT + 2
        bars = format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" class="state-{}">'
            "<title>{}: {} from {} to {}</title></rect>",
            (
                (
                    _x(s.start, since, until),
                    y,
                    max(_x(s.end, since, until) - _x(s.start, since, until), 0.5),
                    ROW_HEIGHT - 6,
                    colours.get(s.state, "#9e9e9e"),
                    s.state,
                    label,
                    s.state,
                    f"{s.start:%H:%M:%S}",
                    f"{s.end:%H:%M:%S}",
                )
                for s in segments
            ),
        )
        body.append(
            format_html('<text x="{}" y="{}" text-anchor="end">{}</text>{}', LABEL_WIDTH - 6, y + 11, label, bars)
        )
    svg = format_html(
        '<svg class="chart timeline" role="img" viewBox="0 0 {} {}" width="100%" aria-label="{}">'
        "<title>{}</title>{}{}</svg>",
        WIDTH,
        height,
        title,
        title,
        mark_safe("".join(body)),  # noqa: S308 - each part built with format_html above
        _axis(since, until, len(rows) * ROW_HEIGHT + 2),
    )
    used = sorted({s.state for _, segments in rows for s in segments})
    return format_html(
        '{}<div class="chart-legend">{}</div>', svg, _legend([(s, colours.get(s, "#9e9e9e")) for s in used])
    )


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def line_chart_svg(
    *, series: Sequence[Series], since: dt.datetime, until: dt.datetime, title: str, unit: str = ""
) -> SafeString:
    """Lines over time; a bucket with no value (None) breaks its line."""
    values = [v for s in series for _, v in s.points if v is not None]
    top = _nice_max(max(values, default=0.0))
    plot_top, plot_bottom = 8, LINE_HEIGHT - AXIS_HEIGHT

    def y(value: float) -> float:
        return round(plot_bottom - (value / top) * (plot_bottom - plot_top), 1)

    grid = format_html_join(
        "",
        '<line x1="{0}" x2="{1}" y1="{2}" y2="{2}" class="grid"/><text x="{3}" y="{4}" text-anchor="end">{5}</text>',
        (
            (LABEL_WIDTH, WIDTH - RIGHT_PAD, y(top * f), LABEL_WIDTH - 6, y(top * f) + 4, f"{top * f:g}{unit}")
            for f in (0, 0.5, 1)
        ),
    )
    lines = []
    for s in series:
        runs: list[list[str]] = [[]]
        for moment, value in s.points:
            if value is None:
                runs.append([])
            else:
                runs[-1].append(f"{_x(moment, since, until)},{y(value)}")
        for run in runs:
            if len(run) == 1:
                cx, cy = run[0].split(",")
                lines.append(format_html('<circle cx="{}" cy="{}" r="2" fill="{}"/>', cx, cy, s.colour))
            elif run:
                lines.append(
                    format_html(
                        '<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"><title>{}</title></polyline>',
                        " ".join(run),
                        s.colour,
                        s.name,
                    )
                )
    svg = format_html(
        '<svg class="chart line" role="img" viewBox="0 0 {} {}" width="100%" aria-label="{}">'
        "<title>{}</title>{}{}{}</svg>",
        WIDTH,
        LINE_HEIGHT,
        title,
        title,
        grid,
        mark_safe("".join(lines)),  # noqa: S308 - each part built with format_html above
        _axis(since, until, plot_bottom),
    )
    return format_html('{}<div class="chart-legend">{}</div>', svg, _legend([(s.name, s.colour) for s in series]))
