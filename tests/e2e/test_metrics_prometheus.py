"""Issue 6, points 1–2: the operator's metrics scraped by the real Prometheus server
(Debian package) during a real sync; the PromQL answers must equal the ContactSync's
status counts, the exposition must pass ``promtool check metrics``, every Grafana panel's
expression must parse (the core panels must return data) and the alert rules must load
and evaluate."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crmsync.metrics import RECORD_OUTCOMES
from tests.conftest import REPO
from tests.e2e.conftest import OperatorProcess, Stack, condition, wait_for
from tests.e2e.prometheus import Prometheus, promtool, start_prometheus
from tests.e2e.syncs import create_people, email_of, marked, syncs_for, unique
from tests.e2e.vendors import CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e

DASHBOARD = REPO / "manifests" / "monitoring" / "grafana-dashboard.json"
CORE_PANELS = {
    "Sync throughput (records/s by outcome)",
    "Skipped records by reason",
    "Lag: age of the oldest unsynced CRM change",
    "Time since the last completed run",
    "Vendor API requests by status class",
    "Runs by outcome",
    "Checkpoint age",
    "Resources by condition",
    "Connection checks by result",
}
"""Panels that must return data after one sync; the others (errors, retries, run-duration
quantiles over the last minute, notifications) must parse but may be empty here."""
PEOPLE = 12
CAMEL = {
    "skipped_duplicate": "skippedDuplicate",
    "skipped_ignored": "skippedIgnored",
}


@pytest.fixture(scope="module")
def prometheus(
    operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    server = start_prometheus(
        tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{operator.metrics_port}"]
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def synced(stack: Stack, prometheus: Prometheus) -> Iterator[dict[str, Any]]:
    """A Manual ContactSync to a fresh Mailchimp audience over this module's own CRM
    records (12 people, 2 duplicate addresses, 1 opted out): its initial run, then a
    sync-now run. Yields the ContactSync after the second run."""
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker = unique("metrics")
    list_id = mailchimp.new_audience(marker)

    def extra(i: int) -> dict[str, Any]:
        if i >= PEOPLE:  # the same addresses as people 0 and 1: duplicates
            return {"Email": email_of(marker, i - PEOPLE)}
        return {"Email_Opt_Out": True} if i == PEOPLE - 1 else {}

    create_people(crm, "Contacts", marker, PEOPLE + 2, extra)
    for syncs in syncs_for(stack):
        name = marker
        syncs.apply(
            name,
            {
                "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts",
                        "criteria": marked(marker)},
                "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
                "fieldMapping": [{"crmField": "First_Name", "campaignField": "FNAME"}],
                "trigger": {"mode": "Manual"},
            },
        )  # fmt: skip
        first = syncs.wait_run(name, timeout=180)
        assert condition(first, "Synced") == "True", first["status"]
        after = syncs.sync_now(name)
        yield syncs.wait_run(name, after=after, timeout=180)


def _expected(body: dict[str, Any]) -> dict[str, float]:
    """PromQL expression → the value the ContactSync's status says it must have."""
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    status = body["status"]
    counts = status["counts"]
    sel = f'namespace="{ns}",sync="{name}"'
    wanted: dict[str, float] = {}
    for outcome in RECORD_OUTCOMES:
        key = CAMEL.get(outcome, outcome)
        wanted[f'crmsync_records_total{{{sel},outcome="{outcome}"}}'] = counts[key]
    for reason, number in counts["skippedByReason"].items():
        wanted[f'crmsync_records_skipped_total{{{sel},reason="{reason}"}}'] = number
    wanted[f"sum(crmsync_records_skipped_total{{{sel}}})"] = sum(counts["skippedByReason"].values())
    wanted[f"sum(crmsync_runs_total{{{sel}}})"] = len(status["history"])
    wanted[f'sum(crmsync_runs_total{{{sel},outcome="Succeeded"}})'] = sum(
        1 for run in status["history"] if run["outcome"] == "Succeeded"
    )
    for trigger in ("Initial", "Manual"):
        wanted[f'crmsync_run_duration_seconds_count{{{sel},trigger="{trigger}"}}'] = sum(
            1 for run in status["history"] if run["trigger"] == trigger
        )
    wanted[f"crmsync_target_members{{{sel}}}"] = status["members"]
    end = datetime.fromisoformat(status["lastRun"]["endTime"].replace("Z", "+00:00"))
    wanted[f"round(crmsync_last_successful_run_timestamp_seconds{{{sel}}})"] = round(
        end.timestamp()
    )
    since = datetime.fromisoformat(status["checkpoint"]["modifiedSince"].replace("Z", "+00:00"))
    wanted[f'crmsync_checkpoint_timestamp_seconds{{{sel},checkpoint="modified_since"}}'] = (
        since.timestamp()
    )
    return wanted


def test_promql_answers_match_the_status_counts(
    synced: dict[str, Any], prometheus: Prometheus
) -> None:
    status = synced["status"]
    counts = status["counts"]
    # The data set exercised what it was built for.
    assert counts["added"] == PEOPLE - 1, counts  # 12 addresses, 1 opted out
    assert counts["skippedDuplicate"] >= 2, counts  # the 2 extra records, in each run
    assert counts["skippedByReason"].get("opted_out") == 2, counts  # 1 per run
    assert counts["unchanged"] >= PEOPLE - 1, counts  # the sync-now run changed nothing
    wanted = _expected(synced)

    def scraped() -> dict[str, float | None]:
        return {expr: prometheus.value(expr) for expr in wanted}

    try:
        wait_for(lambda: scraped() == wanted, timeout=30, what="Prometheus to agree")
    except AssertionError:
        got = scraped()
        diff = {e: (got[e], v) for e, v in wanted.items() if got[e] != v}
        raise AssertionError(f"PromQL (got, status) differ: {diff}") from None

    sel = f'namespace="e2e",sync="{synced["metadata"]["name"]}"'
    # Lag: now − checkpoint.modifiedSince, computed at scrape time.
    since = datetime.fromisoformat(status["checkpoint"]["modifiedSince"].replace("Z", "+00:00"))
    lag = prometheus.value(f"crmsync_sync_lag_seconds{{{sel}}}")
    assert lag is not None
    assert abs(lag - (datetime.now(UTC) - since).total_seconds()) < 10
    age = prometheus.value(f"crmsync_checkpoint_age_seconds{{{sel}}}")
    assert age is not None
    assert 0 <= age < 120
    # Vendor API requests by provider / endpoint class / status class.
    by_provider = {
        r["metric"]["provider"]: float(r["value"][1])
        for r in prometheus.query(
            'sum by (provider) (crmsync_api_requests_total{status_class="2xx"})'
        )
    }
    assert by_provider.get("mailchimp", 0) > 0, by_provider
    assert by_provider.get("zoho-crm", 0) > 0, by_provider
    api_calls = sum(run["apiCalls"] for run in status["history"])
    total = prometheus.value("sum(crmsync_api_requests_total)")
    assert total is not None
    assert total >= api_calls
    endpoints = {r["metric"]["endpoint"] for r in prometheus.query("crmsync_api_requests_total")}
    assert "lists/members" in endpoints or "batches" in endpoints, endpoints
    for endpoint in endpoints:  # classes, never ids or addresses
        assert "@" not in endpoint
        assert not re.search(r"\d{3}", endpoint), endpoint
    # Resources by condition, and the Connection verifier's results.
    ready = prometheus.value('crmsync_resources{kind="Connection",condition="Ready",status="True"}')
    assert ready is not None
    assert ready >= 3
    synced_ok = prometheus.value(
        'crmsync_resources{kind="ContactSync",condition="Synced",status="True"}'
    )
    assert synced_ok is not None
    assert synced_ok >= 1
    verified = prometheus.value(
        'sum(crmsync_connection_verifications_total{namespace="e2e",connection="mailchimp",'
        'result="CredentialsVerified"})'
    )
    assert verified is not None
    assert verified >= 1
    # No label value carries an email address or a record id.
    series = prometheus.get("/api/v1/series", **{"match[]": '{__name__=~"crmsync_.+"}'})
    for labels in series:
        for key, value in labels.items():
            assert "@" not in value, (key, value)


def test_exposition_passes_promtool_check_metrics(
    synced: dict[str, Any], operator: OperatorProcess
) -> None:
    text = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=10).text
    assert "crmsync_records_total{" in text
    promtool("check", "metrics", stdin=text)


def _substitute(expr: str) -> str:
    """Grafana's variables as the dashboard resolves them with "All" selected."""
    return (
        expr.replace("$__rate_interval", "1m")
        .replace("$__range", "1h")
        .replace('"$namespace"', '".*"')
        .replace('"$sync"', '".*"')
    )


def test_every_dashboard_expression_runs_against_prometheus(
    synced: dict[str, Any], prometheus: Prometheus
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {p["title"] for p in dashboard["panels"]}
    assert titles >= CORE_PANELS, CORE_PANELS - titles
    # Enough scrapes for rate() over the last minute.
    time.sleep(3)
    empty: list[str] = []
    checked = 0
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = _substitute(target["expr"])
            assert "$" not in expr, expr
            result = prometheus.query(expr)  # raises when it does not parse
            checked += 1
            if panel["title"] in CORE_PANELS and not result:
                empty.append(f"{panel['title']}: {expr}")
    assert not empty, f"core panels without data: {empty}"
    assert checked >= len(dashboard["panels"])
    # The template variables' label_values() queries find their labels.
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
        assert match, variable
        values = prometheus.get(
            f"/api/v1/label/{match.group(2)}/values", **{"match[]": _substitute(match.group(1))}
        )
        assert values, variable


def test_alert_rules_load_and_evaluate(prometheus: Prometheus, synced: dict[str, Any]) -> None:
    def evaluated() -> list[dict[str, Any]] | None:
        groups = prometheus.get("/api/v1/rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return rules if rules and all(r["health"] == "ok" for r in rules) else None

    rules = wait_for(evaluated, timeout=30, what="every rule evaluated with health ok")
    names = {r["name"] for r in rules}
    assert {
        "CrmsyncSyncStalled",
        "CrmsyncSkipRateGrowing",
        "CrmsyncConnectionAuthFailing",
        "CrmsyncNotificationChannelExpiring",
    } <= names
    firing = [r["name"] for r in rules if r.get("state") == "firing"]
    assert not firing, firing  # a healthy sync raises no alert
