"""Issue 6, point 2: the alert rules pass ``promtool check rules`` and their unit tests
(``promtool test rules``), and the PrometheusRule carries exactly the plain file's groups."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import REPO
from tests.e2e.prometheus import promtool

PROMETHEUS_DIR = REPO / "manifests" / "prometheus"
RULES = PROMETHEUS_DIR / "crmsync-rules.yaml"
PROMETHEUS_RULE = REPO / "manifests" / "monitoring" / "prometheusrule.yaml"


def test_promtool_check_rules() -> None:
    output = promtool("check", "rules", str(RULES))
    assert "SUCCESS" in output


def test_promtool_rule_unit_tests() -> None:
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.yaml"))
    assert tests
    output = promtool("test", "rules", *[t.name for t in tests], cwd=PROMETHEUS_DIR / "tests")
    assert "SUCCESS" in output
    assert "FAILED" not in output


def _alerts(groups: list[dict[str, Any]]) -> set[str]:
    return {r["alert"] for g in groups for r in g["rules"] if "alert" in r}


def test_every_alert_has_a_unit_test_and_the_prometheusrule_matches() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    tested = {
        case["alertname"]
        for path in (PROMETHEUS_DIR / "tests").glob("*.yaml")
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert _alerts(groups) <= tested, _alerts(groups) - tested
    assert {
        "CrmsyncSyncStalled",
        "CrmsyncSkipRateGrowing",
        "CrmsyncConnectionAuthFailing",
        "CrmsyncNotificationChannelExpiring",
    } <= _alerts(groups)
    rule = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert rule["kind"] == "PrometheusRule"
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == groups
