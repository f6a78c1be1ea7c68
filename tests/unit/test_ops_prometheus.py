"""The alert rules in ops/prometheus: valid, each one unit-tested by promtool, each with its runbook."""

from __future__ import annotations

import re

import yaml

from tests.promtool import ROOT, promtool

RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
TESTS = sorted((ROOT / "ops" / "prometheus" / "tests").glob("*.yml"))
OPERATIONS = ROOT / "docs" / "operations.md"


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_the_alert_rules_pass_promtool_check_rules():
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_rules_pass_their_promtool_unit_tests():
    assert TESTS
    done = promtool("test", "rules", *map(str, TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("SUCCESS") == len(TESTS)


def test_every_alert_is_shown_firing_by_a_unit_test():
    fired = {
        case["alertname"]
        for path in TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fired == set(), "alerts no promtool test shows firing"


def test_every_alert_links_to_its_runbook_section():
    anchors = {
        re.sub(r"[^a-z0-9_-]", "", heading.strip().lower().replace(" ", "-"))
        for heading in re.findall(r"^#+ (.+)$", OPERATIONS.read_text(), flags=re.M)
    }
    for rule in alert_rules():
        runbook = rule["annotations"]["runbook"]
        assert runbook.startswith("docs/operations.md#"), rule["alert"]
        assert runbook.split("#", 1)[1] in anchors, f"{rule['alert']}: docs/operations.md has no section {runbook}"
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
