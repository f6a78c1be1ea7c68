"""docs/operations.md names only what exists: commands and subcommands, endpoints, metrics, alerts."""

from __future__ import annotations

import re

import pytest
import yaml
from django.core.management import get_commands, load_command_class
from django.urls import Resolver404, resolve

from tests.promql import metric_names
from tests.promtool import ROOT

GUIDE = (ROOT / "docs" / "operations.md").read_text()
RULES = yaml.safe_load((ROOT / "ops" / "prometheus" / "alerts.yml").read_text())


def test_every_management_command_and_subcommand_named_exists():
    named = re.findall(r"python manage\.py ([a-z_]+)(?: ([a-z][a-z-]*))?", GUIDE)
    assert len(named) > 10
    commands = get_commands()
    for command, sub in named:
        assert command in commands, f"the guide names `manage.py {command}`, which does not exist"
        parser = load_command_class(commands[command], command).create_parser("manage.py", command)
        if sub and parser._subparsers is not None:
            choices = {choice for action in parser._subparsers._group_actions for choice in action.choices}
            assert sub in choices, f"the guide names `manage.py {command} {sub}`, which does not exist"


@pytest.mark.parametrize("path", sorted(set(re.findall(r"localhost:8000(/[^\s`\"?]*)", GUIDE))))
def test_every_endpoint_named_is_served(path):
    try:
        resolve(path)
    except Resolver404:
        pytest.fail(f"the guide names {path}, which no view serves")


def test_every_metric_the_rules_read_is_in_the_metric_table():
    table = {name for name in re.findall(r"^\| `([a-z_]+)` \|", GUIDE, flags=re.M)}
    read = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for group in RULES["groups"]
        for rule in group["rules"]
        for name in metric_names(rule["expr"])
    }
    assert read - table == set()


def test_every_alert_has_its_section():
    headings = set(re.findall(r"^#### (\w+)$", GUIDE, flags=re.M))
    alerts = {rule["alert"] for group in RULES["groups"] for rule in group["rules"]}
    assert alerts == headings
