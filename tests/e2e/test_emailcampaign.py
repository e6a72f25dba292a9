"""Issue 7 point 6 (C1, C3): an EmailCampaign against the real control plane, the operator
process and the local Zoho CRM and Zoho Campaigns servers.

* Recipients come from CRM Leads and Contacts (criteria); missing emails, opt-outs,
  duplicates across modules and addresses the list refuses are skipped with a reason.
* Draft → Review → Send moves the campaign through its states; it is sent exactly once,
  and the API server refuses going back. The test-email request is recorded, not faked.
* A restart between the vendor calls and their status records (simulated by killing the
  operator and rewinding the status) neither creates nor sends a second campaign.
* Deleting the EmailCampaign deletes nothing in Zoho Campaigns or the CRM.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, condition, wait_for
from tests.e2e.syncs import marked, unique
from tests.e2e.test_crash_safety import KillableOperator
from tests.e2e.vendors import CampaignsReader, CrmReader, crm_create_many

pytestmark = pytest.mark.e2e


def campaign_manifest(name: str, spec: dict[str, Any]) -> str:
    return json.dumps(
        {
            "apiVersion": "crmsync.dev/v1alpha1",
            "kind": "EmailCampaign",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def campaign_spec(marker: str, listkey: str, **extra: Any) -> dict[str, Any]:
    return {
        "target": {"connectionRef": {"name": "campaigns"}, "listKey": listkey},
        "recipients": {
            "connectionRef": {"name": "crm"},
            "sources": [
                {"module": "Leads", "criteria": marked(marker)},
                {"module": "Contacts", "criteria": marked(marker)},
            ],
        },
        "campaignName": f"crmsync e2e {marker}",
        "subject": f"Hello {marker}",
        "fromName": "crmsync e2e",
        "fromEmail": "events@acme.example",
        "content": {"url": "https://acme.example/mail/e2e.html"},
        **extra,
    }


def people(crm: CrmReader, marker: str) -> dict[str, str]:
    """CRM records for one test: 3 + 1 recipients and one record per skip reason.

    Returns the expected recipients (email → module)."""
    lead = lambda i, **v: {"Last_Name": f"L{i}", "Company": "Acme", "Description": marker, **v}  # noqa: E731
    contact = lambda i, **v: {"Last_Name": f"C{i}", "Description": marker, **v}  # noqa: E731
    crm_create_many(
        crm,
        "Leads",
        [
            lead(0, Email=f"{marker}.0@example.com"),
            lead(1, Email=f"{marker}.1@example.com"),
            lead(2, Email=f"{marker}.2@example.com"),
            lead(3),  # missing_email
            lead(4, Email=f"{marker}.optout@example.com", Email_Opt_Out=True),
        ],
    )
    crm_create_many(
        crm,
        "Contacts",
        [
            contact(0, Email=f"{marker}.0@example.com"),  # duplicate_email (also a lead)
            contact(1, Email=f"{marker}.3@example.com"),
            contact(2, Email=f"noreply@{marker}.example.com"),  # the list refuses: role_email
            contact(3, Email=f"{marker}.other@example.com", Description="not this test"),
        ],
    )
    return {
        **{f"{marker}.{i}@example.com": "Leads" for i in range(3)},
        f"{marker}.3@example.com": "Contacts",
    }


def details(campaigns: CampaignsReader, key: str) -> dict[str, Any]:
    return campaigns.call("getcampaigndetails", {"campaignkey": key})


def named(campaigns: CampaignsReader, name: str) -> list[dict[str, Any]]:
    rows = campaigns.call("recentcampaigns", {"range": "200"}).get("recent_campaigns") or []
    return [r for r in rows if r["campaign_name"] == name]


def state_is(stack: Stack, name: str, state: str, namespace: str) -> dict[str, Any] | None:
    body = stack.kube.get_json("emailcampaign", name, "-n", namespace)
    status = body.get("status") or {}
    generation = body["metadata"]["generation"]
    # The pass for this generation has ended: observed and no longer Reconciling (kstatus).
    reconciling = any(c["type"] == "Reconciling" for c in status.get("conditions") or [])
    if status.get("state") == state and status.get("observedGeneration") == generation:
        return None if reconciling else dict(body)
    return None


def event_reasons(stack: Stack, name: str, namespace: str) -> set[str]:
    events = stack.kube.get_json(
        "events", "-n", namespace, f"--field-selector=involvedObject.name={name}"
    )
    return {e["reason"] for e in events["items"]}


def sendcampaign_calls(stack: Stack) -> int:
    base = stack.sim.info["zoho_campaigns"]["base_url"]
    rows = httpx.get(f"{base}/_admin/counters").json()["requests"]
    return sum(r["count"] for r in rows if r["route"].endswith("/sendcampaign"))


def patch(stack: Stack, name: str, namespace: str, body: dict[str, Any], *extra: str) -> Any:
    return stack.kube.kubectl(
        "patch", "emailcampaign", name, "-n", namespace, "--type=merge",
        "-p", json.dumps(body), *extra, check=False,
    )  # fmt: skip


def test_campaign_from_crm_draft_review_send_once_then_delete_keeps_data(stack: Stack) -> None:
    crm, campaigns = CrmReader(stack.sim), CampaignsReader(stack.sim)
    marker, ns = unique("ecamp"), stack.namespace
    expected = people(crm, marker)
    listkey = campaigns.new_list(unique("ecamp-list"))
    name = marker
    tests = ["qa@acme.example", "lead@acme.example"]
    stack.apply(campaign_manifest(name, campaign_spec(marker, listkey, testEmails=tests)))

    body = wait_for(lambda: state_is(stack, name, "Draft", ns), timeout=30, what="Draft")
    status = body["status"]
    key = status["campaignKey"]
    assert key and status["zohoStatus"] == "Draft"
    assert condition(body, "Ready") == "True"
    assert condition(body, "RecipientsSynced") == "True"
    recipients = status["recipients"]
    assert recipients["selected"] == 5  # the role address is refused by the list
    assert recipients["added"] == len(expected) == 4
    assert recipients["byModule"] == {"Leads": 3, "Contacts": 2}
    assert recipients["skippedByReason"] == {
        "missing_email": 1,
        "opted_out": 1,
        "duplicate_email": 1,
        "role_email": 1,
    }
    assert recipients["considered"] == 8
    assert {s["reason"] for s in status["skipped"]} == set(recipients["skippedByReason"])
    export = stack.kube.get_json("configmap", status["skippedExport"]["configMap"], "-n", ns)
    assert export["data"]["skipped.csv"].count("\n") == 1 + 4
    # The list holds exactly the CRM recipients; the campaign is a draft on that list.
    assert campaigns.list_statuses(listkey) == dict.fromkeys(expected, "active")
    zoho = details(campaigns, key)
    assert zoho["campaign-details"][0]["campaign_status"] == "Draft"
    assert [m["listkey"] for m in zoho["associated_mailing_lists"]] == [listkey]
    # The test email is recorded honestly: API v1.1 has no method to send it.
    assert status["testMail"]["addresses"] == tests
    assert status["testMail"]["sent"] is False
    test_condition = next(c for c in status["conditions"] if c["type"] == "TestMailSent")
    assert (test_condition["status"], test_condition["reason"]) == ("False", "NotSupportedByApi")

    assert condition(body, "CampaignUpToDate") == "True"

    # Review; the subject changed too: API v1.1 cannot update a campaign, so it is reported.
    review = {"spec": {"action": "Review", "subject": f"Changed {marker}"}}
    assert patch(stack, name, ns, review).returncode == 0
    body = wait_for(lambda: state_is(stack, name, "ToReview", ns), timeout=20, what="ToReview")
    assert body["status"]["campaignKey"] == key
    assert condition(body, "CampaignUpToDate") == "False"
    assert "ChangeNotApplied" in event_reasons(stack, name, ns)

    sends_before = sendcampaign_calls(stack)
    assert patch(stack, name, ns, {"spec": {"action": "Send"}}).returncode == 0
    body = wait_for(lambda: state_is(stack, name, "Sent", ns), timeout=20, what="Sent")
    assert body["status"]["sentTime"] and body["status"]["sendRequestedTime"]
    assert condition(body, "Sent") == "True"
    zoho = details(campaigns, key)
    assert zoho["campaign-details"][0]["campaign_status"] == "Sent"
    assert int(zoho["total_contacts_count"]) == 4
    # Send is final: the API server refuses going back, and nothing is sent again.
    refused = patch(stack, name, ns, {"spec": {"action": "Draft"}})
    assert refused.returncode != 0
    assert "cannot go back to Draft or Review" in refused.stderr
    # Cancel is accepted, but a campaign Zoho sent stays Sent.
    assert patch(stack, name, ns, {"spec": {"action": "Cancel"}}).returncode == 0
    body = wait_for(lambda: state_is(stack, name, "Sent", ns), timeout=20, what="still Sent")
    sent_condition = next(c for c in body["status"]["conditions"] if c["type"] == "Sent")
    assert (sent_condition["status"], sent_condition["reason"]) == ("True", "AlreadySent")
    assert patch(stack, name, ns, {"metadata": {"labels": {"touched": "yes"}}}).returncode == 0
    time.sleep(2)  # the label change runs one more pass
    assert sendcampaign_calls(stack) - sends_before == 1
    assert len(named(campaigns, f"crmsync e2e {marker}")) == 1
    listed = stack.kube.kubectl("get", "ecamp", name, "-n", ns).stdout
    assert listed.split("\n")[0].split() == ["NAME", "ACTION", "STATE", "READY", "RECIPIENTS", "SKIPPED", "AGE"]  # fmt: skip
    assert listed.split("\n")[1].split()[:6] == [name, "Cancel", "Sent", "True", "5", "4"]
    reasons = event_reasons(stack, name, ns)
    assert {"RecipientsSynced", "CampaignCreated", "TestMailNotSent", "CampaignSent"} <= reasons

    # C3: deleting unlinks. No finalizer holds the object; Zoho and the CRM keep everything.
    assert not body["metadata"].get("finalizers")
    started = time.monotonic()
    stack.kube.kubectl("delete", "emailcampaign", name, "-n", ns, "--wait=true")
    assert time.monotonic() - started < 10
    gone = stack.kube.kubectl("get", "emailcampaign", name, "-n", ns, check=False)
    assert gone.returncode != 0
    assert details(campaigns, key)["campaign-details"][0]["campaign_status"] == "Sent"
    assert campaigns.list_statuses(listkey) == dict.fromkeys(expected, "active")
    leads = crm.records("Leads", "Email,Description")
    assert sum(1 for r in leads if r.get("Description") == marker) == 5


def test_cancel_before_sending_sends_nothing_and_keeps_the_draft(stack: Stack) -> None:
    crm, campaigns = CrmReader(stack.sim), CampaignsReader(stack.sim)
    marker, ns = unique("ecamp"), stack.namespace
    people(crm, marker)
    listkey = campaigns.new_list(unique("ecamp-list"))
    stack.apply(campaign_manifest(marker, campaign_spec(marker, listkey)))
    body = wait_for(lambda: state_is(stack, marker, "Draft", ns), timeout=30, what="Draft")
    key = body["status"]["campaignKey"]
    assert patch(stack, marker, ns, {"spec": {"action": "Cancel"}}).returncode == 0
    body = wait_for(lambda: state_is(stack, marker, "Cancelled", ns), timeout=20, what="Cancel")
    assert body["status"]["cancelledTime"]
    assert condition(body, "Sent") == "False"
    refused = patch(stack, marker, ns, {"spec": {"action": "Send"}})
    assert refused.returncode != 0
    assert "a cancelled campaign stays cancelled" in refused.stderr
    assert details(campaigns, key)["campaign-details"][0]["campaign_status"] == "Draft"
    stack.kube.kubectl("delete", "emailcampaign", marker, "-n", ns)
    assert details(campaigns, key)["campaign-details"][0]["campaign_status"] == "Draft"


def test_a_campaign_cancelled_in_zoho_campaigns_is_reported_and_never_sent(stack: Stack) -> None:
    crm, campaigns = CrmReader(stack.sim), CampaignsReader(stack.sim)
    marker, ns = unique("ecamp"), stack.namespace
    people(crm, marker)
    listkey = campaigns.new_list(unique("ecamp-list"))
    stack.apply(campaign_manifest(marker, campaign_spec(marker, listkey)))
    body = wait_for(lambda: state_is(stack, marker, "Draft", ns), timeout=30, what="Draft")
    key = body["status"]["campaignKey"]
    # Someone cancels it in the Zoho Campaigns UI (the local server's admin API stands in).
    response = httpx.put(
        f"{campaigns.base_url}/_admin/zoho_campaigns/campaigns/{key}/status",
        json={"status": "canceled"},
    )
    assert response.status_code == 200, response.text
    sends_before = sendcampaign_calls(stack)
    assert patch(stack, marker, ns, {"spec": {"action": "Send"}}).returncode == 0
    body = wait_for(lambda: state_is(stack, marker, "Cancelled", ns), timeout=20, what="Cancel")
    sent = next(c for c in body["status"]["conditions"] if c["type"] == "Sent")
    assert (sent["status"], sent["reason"]) == ("False", "CancelledInZohoCampaigns")
    assert body["status"]["zohoStatus"] == "Canceled"
    assert sendcampaign_calls(stack) == sends_before
    stack.kube.kubectl("delete", "emailcampaign", marker, "-n", ns)


# --- exactly once across a restart -------------------------------------------------------


@pytest.fixture
def own_namespace(stack: Stack) -> str:
    """A namespace with the e2e Secrets and Connections, reconciled by its own operator."""
    namespace = unique("e2e-ecamp")
    kube = stack.kube
    kube.kubectl("create", "namespace", namespace)
    for secret in ("zoho-crm", "zoho-campaigns"):
        data = kube.get_json("secret", secret, "-n", stack.namespace)["data"]
        manifest = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret}, "data": data}  # fmt: skip
        kube.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))
    for connection in ("crm", "campaigns"):
        spec = kube.get_json("connection", connection, "-n", stack.namespace)["spec"]
        manifest = {"apiVersion": "crmsync.dev/v1alpha1", "kind": "Connection", "metadata": {"name": connection}, "spec": spec}  # fmt: skip
        kube.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))
    return namespace


@pytest.fixture
def restartable(
    stack: Stack, own_namespace: str, tmp_path: Path, own_processes: None
) -> Iterator[KillableOperator]:
    operator = KillableOperator(stack.kube.env, own_namespace, tmp_path)
    try:
        yield operator
    finally:
        operator.stop()
        for log in operator.outputs:
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-6000:]}")


def test_a_restart_between_vendor_calls_and_status_never_creates_or_sends_twice(
    stack: Stack, own_namespace: str, restartable: KillableOperator
) -> None:
    crm, campaigns = CrmReader(stack.sim), CampaignsReader(stack.sim)
    marker, ns = unique("ecamp"), own_namespace
    people(crm, marker)
    listkey = campaigns.new_list(unique("ecamp-list"))
    restartable.start()
    for connection in ("crm", "campaigns"):
        wait_for(
            lambda c=connection: condition(stack.kube.get_json("connection", c, "-n", ns), "Ready") == "True",
            timeout=30, what=f"Connection {connection} Ready",
        )  # fmt: skip
    sends_before = sendcampaign_calls(stack)
    stack.kube.kubectl(
        "apply", "-n", ns, "-f", "-",
        stdin=campaign_manifest(marker, campaign_spec(marker, listkey, action="Send")),
    )  # fmt: skip
    body = wait_for(lambda: state_is(stack, marker, "Sent", ns), timeout=30, what="Sent")
    key = body["status"]["campaignKey"]
    sent_time = details(campaigns, key)["campaign-details"][0]["sent_time"]
    assert sendcampaign_calls(stack) - sends_before == 1

    # The operator dies after createCampaign and sendcampaign reached Zoho but before it
    # recorded either: only the intent markers (written before each call) are in status.
    restartable.kill()
    rewound = {"status": {"campaignKey": "", "sentTime": None, "zohoStatus": "", "state": "Sending"}}  # fmt: skip
    assert patch(stack, marker, ns, rewound, "--subresource=status").returncode == 0
    stored = stack.kube.get_json("emailcampaign", marker, "-n", ns)["status"]
    assert stored["createRequestedTime"] and stored["sendRequestedTime"]
    assert not stored.get("campaignKey")

    restartable.start()
    body = wait_for(lambda: state_is(stack, marker, "Sent", ns), timeout=30, what="Sent again")
    assert body["status"]["campaignKey"] == key  # looked up, not created a second time
    assert len(named(campaigns, f"crmsync e2e {marker}")) == 1
    assert details(campaigns, key)["campaign-details"][0]["sent_time"] == sent_time
    assert sendcampaign_calls(stack) - sends_before == 1  # Zoho said Sent: not called again
    assert "CampaignAdopted" in event_reasons(stack, marker, ns)


# --- C2: the responses back into the CRM ------------------------------------------------------


def activity_after(stack: Stack, name: str, namespace: str, before: str | None) -> dict[str, Any]:
    """status.activity once a pass newer than ``before`` (lastPassTime) has ended."""

    def passed() -> dict[str, Any] | None:
        body = stack.kube.get_json("emailcampaign", name, "-n", namespace)
        activity = (body.get("status") or {}).get("activity") or {}
        return activity if activity.get("lastPassTime") not in (None, before) else None

    activity = wait_for(passed, timeout=30, what=f"an activity pass of {name}")
    assert activity["outcome"] == "Succeeded", activity
    return activity


def member_statuses_by_email(crm: CrmReader, marker: str, crm_campaign: str) -> dict[str, str]:
    """(module, email) → Member_Status of this test's leads and contacts for the campaign."""
    out: dict[str, str] = {}
    for module in ("Leads", "Contacts"):
        for record in crm.records(module, "Email,Description"):
            if record.get("Description") != marker or not record.get("Email"):
                continue
            response = crm.http.get(f"/{module}/{record['id']}/Campaigns")
            rows = response.json()["data"] if response.status_code == 200 else []
            status = next((r["Member_Status"] for r in rows if r["id"] == crm_campaign), "")
            out[f"{module}:{record['Email'].lower()}"] = status
    return out


def test_a_sent_campaign_brings_its_responses_back_into_the_crm(stack: Stack) -> None:
    crm, campaigns = CrmReader(stack.sim), CampaignsReader(stack.sim)
    marker, ns = unique("ecact"), stack.namespace
    expected = people(crm, marker)
    listkey = campaigns.new_list(unique("ecact-list"))
    stack.apply(campaign_manifest(marker, campaign_spec(marker, listkey, action="Send")))
    body = wait_for(lambda: state_is(stack, marker, "Sent", ns), timeout=30, what="Sent")
    key = body["status"]["campaignKey"]

    # Right after the send: a CRM Campaigns record, every recipient Sent.
    first = activity_after(stack, marker, ns, None)
    [tracked] = first["campaigns"]
    assert tracked["campaignId"] == key and tracked["recipientsWritten"] is True
    assert tracked["summary"]["sent"] == 4 and tracked["membersUnmatched"] == 0
    record = crm.http.get(f"/Campaigns/{tracked['crmCampaignId']}").json()["data"][0]
    assert record["Campaign_Name"] == f"crmsync e2e {marker}" and record["Num_sent"] == 4
    assert record["Description"].startswith(f"Zoho Campaigns campaign {key} (list {listkey})")
    statuses = member_statuses_by_email(crm, marker, tracked["crmCampaignId"])
    # Each recipient's record is Sent; the contact sharing lead 0's address is that person too.
    sent = {f"{module}:{email}" for email, module in expected.items()}
    sent.add(f"Contacts:{marker}.0@example.com")
    assert {k for k, v in statuses.items() if v == "Sent"} == sent
    assert {k for k, v in statuses.items() if v != "Sent"} <= {
        f"Contacts:noreply@{marker}.example.com",
        f"Leads:{marker}.optout@example.com",
    }  # not recipients: no status

    # People respond; crmsync.dev/sync-now brings a pass at once.
    response = httpx.post(
        f"{campaigns.base_url}/_admin/zoho_campaigns/campaigns/{key}/simulate",
        json={"seed": 3, "open_rate": 1.0, "click_rate": 0.5, "hard_bounce_rate": 0.0,
              "soft_bounce_rate": 0.0, "unsubscribe_rate": 0.3, "complaint_rate": 0.0},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    stack.kube.kubectl(
        "annotate", "emailcampaign", marker, "-n", ns, "--overwrite",
        f"crmsync.dev/sync-now={time.time()}",
    )  # fmt: skip
    later = activity_after(stack, marker, ns, first["lastPassTime"])
    [tracked] = later["campaigns"]
    report = campaigns.call("campaignreports", {"campaignkey": key})["campaign-reports"][0]
    assert tracked["summary"]["opens"] == int(report["opens_count"]) == 4
    assert tracked["summary"]["clicks"] == int(report["unique_clicks_count"])
    assert tracked["summary"]["unsubscribes"] == int(report["unsub_count"])
    after = member_statuses_by_email(crm, marker, tracked["crmCampaignId"])
    responded = {
        row["contactemailaddress"].lower()
        for action in ("clickedcontacts", "optoutcontacts")
        for row in campaigns.call(
            "getcampaignrecipientsdata", {"campaignkey": key, "action": action}
        ).get("list_of_details")
        or []
    }
    for who in sent:
        email = who.split(":", 1)[1]
        assert after[who] in (("Responded", "Opted Out") if email in responded else ("Opened",))
    assert "CampaignActivity" in event_reasons(stack, marker, ns)


def test_the_connection_timer_carries_the_periodic_activity_passes(stack: Stack) -> None:
    crm, campaigns = CrmReader(stack.sim), CampaignsReader(stack.sim)
    marker, ns = unique("ecper"), stack.namespace
    people(crm, marker)
    listkey = campaigns.new_list(unique("ecper-list"))
    spec = campaign_spec(marker, listkey, action="Send", activity={"interval": "1m"})
    stack.apply(campaign_manifest(marker, spec))
    body = wait_for(lambda: state_is(stack, marker, "Sent", ns), timeout=30, what="Sent")
    key = body["status"]["campaignKey"]
    first = activity_after(stack, marker, ns, None)
    response = httpx.post(
        f"{campaigns.base_url}/_admin/zoho_campaigns/campaigns/{key}/simulate",
        json={"seed": 4, "open_rate": 1.0, "click_rate": 0.0, "hard_bounce_rate": 0.0,
              "soft_bounce_rate": 0.0, "unsubscribe_rate": 0.0, "complaint_rate": 0.0},
    )  # fmt: skip
    assert response.status_code == 200, response.text

    # No change to the object, no annotation: the zoho-campaigns Connection's 30 s recheck
    # timer finds the sent campaign due and runs its pass.
    def opened() -> dict[str, Any] | None:
        status = stack.kube.get_json("emailcampaign", marker, "-n", ns).get("status") or {}
        activity = status.get("activity") or {}
        [tracked] = activity.get("campaigns") or [{}]
        passed = activity.get("lastPassTime") != first["lastPassTime"]
        return activity if passed and tracked.get("summary", {}).get("opens") == 4 else None

    activity = wait_for(opened, timeout=150, what="a periodic activity pass")
    assert activity["outcome"] == "Succeeded" and activity["campaigns"][0]["membersUpdated"] >= 9
    statuses = member_statuses_by_email(crm, marker, activity["campaigns"][0]["crmCampaignId"])
    assert sorted(s for s in statuses.values() if s) == ["Opened"] * 5
