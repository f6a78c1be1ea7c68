"""The README describes what exists: every command, target, endpoint, variable, metric and folder it names.

Only the *Not built yet* section may name what is planned.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PLANNED_HEADING = "## Not built yet"
# Everything but the section about what is planned.
PRESENT = re.sub(rf"{PLANNED_HEADING}\n.*?(?=\n## |\Z)", "", README, flags=re.S)
# The stand-ins' own routes are served by sandbox/, not by Django (tests/unit/sandbox checks them).
SANDBOX_HEADING = "## Local stand-ins (sandbox)"
DJANGO_PRESENT = re.sub(rf"{re.escape(SANDBOX_HEADING)}\n.*?(?=\n## |\Z)", "", PRESENT, flags=re.S)


def section(heading: str) -> str:
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", PRESENT, flags=re.S | re.M)
    assert match, f"README has no section {heading!r}"
    return match.group(1)


def test_the_planned_section_exists_and_is_the_only_one_left_out():
    assert PLANNED_HEADING in README
    assert len(PRESENT) > len(README) / 2


def test_every_management_command_and_subcommand_named_exists():
    named = re.findall(r"python manage\.py ([a-z_]+)(?: ([a-z][a-z-]*))?", PRESENT)
    assert named
    commands = get_commands()
    for command, sub in named:
        assert command in commands, f"README names `manage.py {command}`, which does not exist"
        if sub and command in ("breakers", "dlq", "degradation"):
            parser = load_command_class(commands[command], command).create_parser("manage.py", command)
            choices = {choice for action in parser._subparsers._group_actions for choice in action.choices}
            assert sub in choices, f"README names `manage.py {command} {sub}`, which does not exist"


def test_every_make_target_named_exists():
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
    named = set(re.findall(r"`make ([a-z][\w-]*)", PRESENT)) | set(re.findall(r"^make ([a-z][\w-]*)", PRESENT, re.M))
    assert named
    assert named <= targets, f"README names make targets that do not exist: {named - targets}"


SAMPLE_VALUES = {r"\{id\}": "1", r"\{[a-z_]+\}": "green_api", r"\bNAME\b": "green_api", r"…": "x"}


def _endpoints() -> set[str]:
    paths = set()
    spans = re.findall(r"`([^`\n]+)`", DJANGO_PRESENT)
    for code in spans:
        path = code.split(" ")[-1]
        if not re.fullmatch(r"(?:(?:GET|POST|PATCH) )?/\S*", code) or "*" in path:
            continue
        for pattern, value in SAMPLE_VALUES.items():
            path = re.sub(pattern, value, path)
        paths.add(path.split("?")[0])
    for url_path in re.findall(r"localhost:8000(/[^\s`]*)", DJANGO_PRESENT):
        paths.add(url_path)
    return paths


@pytest.mark.parametrize("path", sorted(_endpoints()))
def test_every_endpoint_named_is_served(path):
    try:
        resolve(path)
    except Resolver404:
        pytest.fail(f"README names {path}, which no view serves")


def test_every_configuration_variable_is_read_and_documented():
    table = section("Configuration")
    names = {
        name for cell in re.findall(r"^\| (`[^|]+`) \|", table, flags=re.M) for name in re.findall(r"`(\w+)`", cell)
    }
    assert "APP_ENV" in names
    settings_source = "\n".join(path.read_text() for path in (ROOT / "config").glob("*.py"))
    example = (ROOT / ".env.example").read_text()
    for name in names:
        assert f'"{name}"' in settings_source, f"README documents {name}, which the configuration never reads"
        assert re.search(rf"^{name}=", example, flags=re.M), f"{name} is missing from .env.example"


def test_every_metric_named_is_exported():
    source = "\n".join(
        path.read_text()
        for folder in ("reliability", "health", "config", "messaging")
        for path in (ROOT / folder).rglob("*.py")
    )
    named = set(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", section("Metrics")))
    assert "circuit_breaker_state" in named
    for name in named:
        declared = name.removesuffix("_total")
        assert f'"{declared}"' in source or f'"{name}"' in source, f"README lists metric {name}, which is not exported"


def test_every_folder_in_the_layout_exists_and_says_what_it_holds():
    layout = section("Layout")
    folders = re.findall(r"^(\.?[a-z]+/?\S*)\s{2,}", layout, flags=re.M)
    assert "messaging/" in folders
    for folder in folders:
        assert (ROOT / folder).exists(), f"README's layout names {folder}, which does not exist"
    messaging_modules = {path.name for path in (ROOT / "messaging").glob("*.py")} - {"__init__.py", "apps.py"}
    messaging_line = next(line for line in layout.splitlines() if line.startswith("messaging/"))
    if not messaging_modules:
        assert "empty" in messaging_line, "messaging/ holds no code: the layout must not say it does"
