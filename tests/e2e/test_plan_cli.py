"""`crmsync plan` (B2) and `crmsync export-skipped` (B8) as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack, wait_for
from tests.e2e.vendors import CrmReader, MailchimpReader

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("own_processes")]

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def crmsync(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crmsync", *args],
        env=stack.kube.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def writes(stack: Stack, vendor: str) -> int:
    rows = stack.sim.counters(vendor)["requests"]
    return sum(
        r["count"]
        for r in rows
        if r["method"] in WRITE_METHODS and not r["route"].endswith("/token")
    )


@pytest.mark.usefixtures("quiet_e2e_syncs")
def test_plan_prints_the_changes_and_changes_nothing(stack: Stack, tmp_path: Path) -> None:
    mailchimp = MailchimpReader(stack.sim)
    list_id = mailchimp.new_audience("plan only")
    crm = CrmReader(stack.sim)
    crm.create(
        "Contacts",
        {"Last_Name": "Planned", "First_Name": "Paula", "Email": "paula.planned@example.org"},
    )
    manifest = tmp_path / "sync.yaml"
    manifest.write_text(f"""
apiVersion: crmsync.dev/v1alpha1
kind: ContactSync
metadata: {{name: never-applied, namespace: e2e}}
spec:
  crm: {{connectionRef: {{name: crm}}, module: Contacts}}
  target: {{connectionRef: {{name: mailchimp}}, listId: "{list_id}"}}
  fieldMapping: [{{crmField: First_Name, campaignField: FNAME}}]
""")
    members_before = mailchimp.members(list_id)
    writes_before = writes(stack, "mailchimp")

    as_json = crmsync(stack, "plan", "-f", str(manifest), "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    adds = {a["email"]: a for a in plan["actions"] if a["action"] == "add"}
    assert "paula.planned@example.org" in adds
    assert {"field": "FNAME", "old": "", "new": "Paula"} in adds["paula.planned@example.org"][
        "changes"
    ]
    assert plan["summary"]["add"] == len(adds) > 1000
    assert {a["reason"] for a in plan["actions"] if a["action"] == "skip_ignored"} >= {
        "invalid_email",
        "opted_out",
    }

    text = crmsync(stack, "plan", "-f", str(manifest), "--limit", "3")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"Plan: {len(adds)} add")
    assert "paula.planned@example.org" in text.stdout or "more (use --limit" in text.stdout

    assert writes(stack, "mailchimp") == writes_before, "a plan never writes to the target"
    assert mailchimp.members(list_id) == members_before
    assert "never-applied" not in stack.kube.kubectl("get", "contactsync", "-n", "e2e").stdout


def test_plan_explains_why_it_cannot_plan(stack: Stack, tmp_path: Path) -> None:
    manifest = tmp_path / "sync.yaml"
    manifest.write_text("""
apiVersion: crmsync.dev/v1alpha1
kind: ContactSync
metadata: {name: broken, namespace: e2e}
spec:
  crm: {connectionRef: {name: no-such-connection}, module: Contacts}
  target: {connectionRef: {name: mailchimp}, listId: abc}
""")
    result = crmsync(stack, "plan", "-f", str(manifest))
    assert result.returncode == 1
    assert "ConnectionNotFound" in result.stderr


def test_export_skipped_writes_the_csv(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "skipped.csv"

    def exported() -> tuple[list[str], int] | None:
        # A run ending meanwhile writes its export before its status: compare only an
        # export read between two equal status reads.
        before = stack.get("contactsync", "initial-load")["status"]
        result = crmsync(stack, "export-skipped", "initial-load", "-n", "e2e", "-o", str(out))
        assert result.returncode == 0, result.stderr
        after = stack.get("contactsync", "initial-load")["status"]
        same = before["lastRun"] == after["lastRun"] and before["lastRun"].get("endTime")
        return (
            (out.read_text().strip().splitlines(), after["skippedExport"]["records"])
            if same
            else None
        )

    lines, records = wait_for(exported, timeout=60, what="an export between two runs")
    assert lines[0] == "email,record_id,kind,reason,detail"
    assert len(lines) - 1 == records
