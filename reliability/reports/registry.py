"""Sections other apps add to the reliability report, registered by name.

``reliability`` never imports ``messaging`` or ``health`` (DESIGN 2): those apps register a
function from their ``AppConfig.ready``, as message handlers register with the DLQ, and
the report calls each one for its period. A section returns a JSON-ready dict and may
also say how to show itself as text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ReportSection:
    name: str
    title: str
    build: Callable[..., dict[str, Any]]  # build(*, since, until) -> JSON-ready dict
    # text(data) -> lines for ``reliability_report --format text``
    text: Callable[[dict[str, Any]], list[str]] | None = None


_sections: dict[str, ReportSection] = {}


def register_report_section(
    name: str,
    build: Callable[..., dict[str, Any]],
    *,
    title: str,
    text: Callable[[dict[str, Any]], list[str]] | None = None,
) -> None:
    """Add (or replace, on a second ``ready``) the section ``name`` of every report (under ``sections``)."""
    _sections[name] = ReportSection(name=name, title=title, build=build, text=text)


def report_sections() -> list[ReportSection]:
    return [_sections[name] for name in sorted(_sections)]
