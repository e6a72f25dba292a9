"""ContactSync end to end: kubectl → real API server → operator process → local vendors."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import pytest

from tests.e2e.conftest import Stack, condition, wait_for
from tests.e2e.vendors import CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e

INITIAL_CONTACTS = 5200
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def linked_record(
    crm_contacts: list[dict[str, Any]], members: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A CRM record that a subscribed member was synced from (not one of its duplicates)."""
    by_id = {c["id"]: c for c in crm_contacts}
    member = next(m for m in members.values() if m["status"] == "subscribed")
    return by_id[member["merge_fields"]["CRMID"].removeprefix("Contacts:")]


def contactsync(name: str, list_id: str, extra: str = "") -> str:
    return f"""
apiVersion: crmsync.dev/v1alpha1
kind: ContactSync
metadata: {{name: {name}}}
spec:
  crm: {{connectionRef: {{name: crm}}, module: Contacts}}
  target: {{connectionRef: {{name: mailchimp}}, listId: "{list_id}", tags: [from-crm]}}
  fieldMapping:
    - {{crmField: First_Name, campaignField: FNAME}}
    - {{crmField: Last_Name, campaignField: LNAME}}
  trigger: {{mode: Instant, pollInterval: 30s}}
{extra}"""


@pytest.fixture(scope="module")
def crm_contacts(stack: Stack) -> list[dict[str, Any]]:
    stack.sim.seed(contacts=INITIAL_CONTACTS, only=["zoho_crm"], random_seed=7)
    contacts = CrmReader(stack.sim).records("Contacts", "Email,First_Name,Last_Name,Email_Opt_Out")
    assert len(contacts) >= 5000
    return contacts


def test_initial_load_lands_completely_and_counts_match_the_target(
    stack: Stack, crm_contacts: list[dict[str, Any]]
) -> None:
    mailchimp = MailchimpReader(stack.sim)
    list_id = mailchimp.new_audience("initial load")
    stack.apply(contactsync("initial-load", list_id))
    body = stack.wait_run("initial-load", timeout=600)
    status = body["status"]
    assert condition(body, "Synced") == "True", status["conditions"]
    assert condition(body, "Ready") == "True"

    members = mailchimp.members(list_id)
    counts = status["counts"]
    by_id = {c["id"]: c for c in crm_contacts}

    # Record by record: every member came from the CRM record it names, with its values.
    for email, member in members.items():
        record = by_id[member["merge_fields"]["CRMID"].removeprefix("Contacts:")]
        assert record["Email"].strip().lower() == email
        assert member["merge_fields"]["FNAME"] == (record["First_Name"] or "")
        assert member["merge_fields"]["LNAME"] == (record["Last_Name"] or "")
        assert member["status"] == "subscribed"
        assert "from-crm" in {t["name"] for t in member["tags"]}

    # And every CRM record is accounted for: a member, or a skip/failure with a reason.
    normalised = [(c["Email"] or "").strip().lower() for c in crm_contacts]
    valid = [e for e in normalised if e and EMAIL.match(e)]
    invalid = len(normalised) - len(valid)
    opted_out_emails = {
        (c["Email"] or "").strip().lower() for c in crm_contacts if c.get("Email_Opt_Out")
    }
    duplicates = sum(n - 1 for n in Counter(valid).values())
    assert counts["total"] == len(crm_contacts)
    assert counts["added"] == len(members) == status["members"]
    assert (
        counts["skippedByReason"].get("invalid_email", 0)
        + counts["skippedByReason"].get("missing_email", 0)
        == invalid
    )
    assert counts["skippedDuplicate"] == duplicates
    assert counts["skippedByReason"].get("opted_out", 0) == len(opted_out_emails & set(valid))
    expected_members = set(valid) - opted_out_emails
    rejected = counts["failed"]
    assert len(expected_members) - rejected == len(members)
    assert set(members) <= expected_members
    assert counts["updated"] == 0
    assert status["lastRun"]["apiCalls"] > 0
    # The skipped records are exported with a reason each (B8).
    export = status["skippedExport"]
    cm = stack.kube.get_json("configmap", export["configMap"], "-n", stack.namespace)
    rows = cm["data"]["skipped.csv"].strip().splitlines()
    assert rows[0] == "email,record_id,kind,reason,detail"
    assert (
        len(rows) - 1
        == export["records"]
        == counts["skippedDuplicate"] + counts["skippedIgnored"] + rejected
    )


def test_second_run_changes_nothing_and_a_crm_edit_arrives(
    stack: Stack, crm_contacts: list[dict[str, Any]]
) -> None:
    mailchimp = MailchimpReader(stack.sim)
    before = stack.get("contactsync", "initial-load")
    members_before = mailchimp.members(before["spec"]["target"]["listId"])
    crm = CrmReader(stack.sim)
    record = linked_record(crm_contacts, members_before)
    crm.update("Contacts", record["id"], {"Last_Name": "Renamed-Ñandú"})

    def edited() -> dict[str, Any] | None:
        body = stack.wait_run("initial-load", after=before["status"]["lastRun"]["id"], timeout=120)
        members = mailchimp.members(body["spec"]["target"]["listId"])
        email = record["Email"].strip().lower()
        return body if members[email]["merge_fields"]["LNAME"] == "Renamed-Ñandú" else None

    body = wait_for(edited, timeout=120, what="the CRM edit on the member")
    last = body["status"]["lastRun"]
    assert last["trigger"] in ("Poll", "Notification")
    assert last["counts"]["added"] == 0
    assert last["counts"]["updated"] >= 1


def test_unsubscribed_member_is_never_resubscribed(
    stack: Stack, crm_contacts: list[dict[str, Any]]
) -> None:
    mailchimp = MailchimpReader(stack.sim)
    body = stack.get("contactsync", "initial-load")
    list_id = body["spec"]["target"]["listId"]
    members = mailchimp.members(list_id)
    record = linked_record(crm_contacts, members)
    email = record["Email"].strip().lower()
    mailchimp.set_status(list_id, email, "unsubscribed")
    crm = CrmReader(stack.sim)
    crm.update("Contacts", record["id"], {"First_Name": "StillUnsubscribed"})
    asked = f"resubscribe-check-{time.time_ns()}"
    stack.kube.kubectl(
        "annotate", "contactsync", "initial-load", "-n", stack.namespace, "--overwrite",
        f"crmsync.dev/sync-now={asked}",
    )  # fmt: skip

    def handled_and_opted_out() -> dict[str, Any] | None:
        # A notification or poll run may pick the edit up first; either way the sync-now
        # request must be handled, and the unsubscribe reaches the CRM (Z17: campaign
        # unsubscribes set Email_Opt_Out by default) instead of the edit reaching the member.
        status = stack.get("contactsync", "initial-load")["status"]
        response = crm.http.get(f"/Contacts/{record['id']}", params={"fields": "Email_Opt_Out"})
        opted_out = response.json()["data"][0]["Email_Opt_Out"] is True
        done = status.get("lastHandledSyncNow") == asked and opted_out
        return status if done else None

    wait_for(handled_and_opted_out, timeout=120, what="the sync-now run and the CRM opt-out")
    member = mailchimp.members(list_id)[email]
    assert member["status"] == "unsubscribed"


def test_connections_show_todays_usage_and_a_spent_budget_stops_the_sync(stack: Stack) -> None:
    wait_for(
        lambda: (
            (stack.get("connection", "mailchimp").get("status") or {})
            .get("quota", {})
            .get("requests", 0)
            > 0
        ),
        timeout=90,
        what="the Mailchimp Connection's quota",
    )
    crm = stack.sim.info["zoho_crm"]
    list_id = MailchimpReader(stack.sim).new_audience("budget")
    stack.apply(f"""
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: crm-small-budget}}
spec:
  provider: zoho-crm
  credentialsSecretRef: {{name: zoho-crm}}
  apiBaseUrl: "{crm["base_url"]}"
  accountsUrl: "{crm["base_url"]}"
  rateLimit: {{dailyCreditBudget: 100000}}
---
apiVersion: crmsync.dev/v1alpha1
kind: ContactSync
metadata: {{name: small-budget}}
spec:
  crm: {{connectionRef: {{name: crm-small-budget}}, module: Contacts}}
  target: {{connectionRef: {{name: mailchimp}}, listId: "{list_id}"}}
  trigger: {{mode: Manual}}
""")
    first = stack.wait_run("small-budget", timeout=300)
    assert first["status"]["lastRun"]["apiCalls"] > 5
    # The day's budget is now below what the Connection has spent: no further run.
    stack.kube.kubectl(
        "patch", "connection", "crm-small-budget", "-n", stack.namespace, "--type=merge",
        "-p", '{"spec": {"rateLimit": {"dailyCreditBudget": 1}}}',
    )  # fmt: skip
    stack.kube.kubectl(
        "annotate",
        "contactsync",
        "small-budget",
        "-n",
        stack.namespace,
        "crmsync.dev/sync-now=again",
    )

    def budget_condition() -> dict[str, Any] | None:
        body = stack.get("contactsync", "small-budget")
        reasons = {c["reason"] for c in body["status"]["conditions"]}
        return body if "DailyBudgetExhausted" in reasons else None

    blocked = wait_for(budget_condition, timeout=120, what="the budget condition")
    assert condition(blocked, "Ready") == "False"
    assert blocked["status"]["lastRun"]["id"] == first["status"]["lastRun"]["id"], "no second run"
