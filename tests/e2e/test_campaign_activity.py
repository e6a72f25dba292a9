"""Campaign activity back into the CRM, end to end (issue 7 point 4; Z16, C2, M10): a
Mailchimp ContactSync with ``campaignActivity`` enabled; a campaign created and sent
through Mailchimp's API; made-up recipient activity; the CRM Campaigns record and each
contact's Member Status read back straight from the vendors' APIs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import FAST_TRIGGER, Syncs, create_people, marked, unique
from tests.e2e.vendors import CampaignsReader, CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e

NAME_MAPPING = [
    {"crmField": "First_Name", "campaignField": "FNAME"},
    {"crmField": "Last_Name", "campaignField": "LNAME"},
]


def send_campaign(mailchimp: MailchimpReader, list_id: str, title: str) -> str:
    """POST /campaigns, PUT its content, POST actions/send: Mailchimp's own API."""
    created = mailchimp.http.post(
        "/campaigns",
        json={
            "type": "regular",
            "recipients": {"list_id": list_id},
            "settings": {
                "title": title,
                "subject_line": f"{title}: news",
                "from_name": "crmsync e2e",
                "reply_to": "news@example.com",
            },
        },
    )
    assert created.status_code == 200, created.text
    campaign_id = str(created.json()["id"])
    content = mailchimp.http.put(f"/campaigns/{campaign_id}/content", json={"html": "<p>Hi</p>"})
    assert content.status_code == 200, content.text
    sent = mailchimp.http.post(f"/campaigns/{campaign_id}/actions/send")
    assert sent.status_code == 204, sent.text
    return campaign_id


def simulate(mailchimp: MailchimpReader, campaign_id: str, **rates: Any) -> dict[str, int]:
    response = mailchimp.http.post(
        str(mailchimp.http.base_url.join(f"/_admin/mailchimp/campaigns/{campaign_id}/simulate")),
        json=rates,
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["generated"])


def expected_statuses(mailchimp: MailchimpReader, campaign_id: str) -> dict[str, str]:
    """Each recipient's Member Status worked out here from Mailchimp's raw report."""
    activity = mailchimp.http.get(
        f"/reports/{campaign_id}/email-activity", params={"count": 1000}
    ).json()["emails"]
    unsubscribed = {
        u["email_address"]
        for u in mailchimp.http.get(f"/reports/{campaign_id}/unsubscribed").json()["unsubscribes"]
    }
    out: dict[str, str] = {}
    for row in activity:
        done = {a["action"] for a in row["activity"]}
        email = row["email_address"].lower()
        out[email] = (
            "Opted Out" if row["email_address"] in unsubscribed or "unsub" in done
            else "Responded" if "click" in done
            else "Opened" if "open" in done
            else "Bounced" if "bounce" in done
            else "Sent"
        )  # fmt: skip
    return out


def member_statuses(crm: CrmReader, contacts: dict[str, str], crm_campaign: str) -> dict[str, str]:
    """email → the Member_Status on each contact's own Campaigns related list."""
    out: dict[str, str] = {}
    for email, contact_id in contacts.items():
        response = crm.http.get(f"/Contacts/{contact_id}/Campaigns")
        rows = response.json()["data"] if response.status_code == 200 else []
        out[email] = next((r["Member_Status"] for r in rows if r["id"] == crm_campaign), "")
    return out


def crm_writes(stack: Stack) -> int:
    """Record and related-list writes the CRM server counted (every module)."""
    rows: list[dict[str, Any]] = stack.sim.counters("zoho_crm")["requests"]
    return sum(
        r["count"]
        for r in rows
        if r["method"] in ("POST", "PUT", "PATCH", "DELETE")
        and r["route"].startswith("/crm/v8/{module}")
    )


def activity_pass(syncs: Syncs, name: str) -> dict[str, Any]:
    """Ask for a run (sync-now) and wait for the campaign-activity pass that follows it."""
    before = (syncs.get(name)["status"].get("campaignActivity") or {}).get("lastPassTime")
    syncs.sync_now(name)

    def passed() -> dict[str, Any] | None:
        status = syncs.get(name)["status"].get("campaignActivity") or {}
        return status if status.get("lastPassTime") not in (None, before) else None

    status = wait_for(passed, timeout=60, what=f"a campaign-activity pass of {name}")
    assert status["outcome"] == "Succeeded", status
    return status


def check_crm_campaign(
    crm: CrmReader, mailchimp: MailchimpReader, tracked: dict[str, Any], list_id: str
) -> None:
    """The CRM Campaigns record holds the Mailchimp report; status says the same."""
    report = mailchimp.http.get(f"/reports/{tracked['campaignId']}").json()
    record = crm.http.get(f"/Campaigns/{tracked['crmCampaignId']}").json()["data"][0]
    assert record["Campaign_Name"] == report["campaign_title"]
    assert record["Type"] == "Email"
    assert record["Start_Date"] == report["send_time"][:10]
    assert record["Num_sent"] == report["emails_sent"]
    hard, soft = report["bounces"]["hard_bounces"], report["bounces"]["soft_bounces"]
    text = record["Description"]
    assert text.startswith(f"Mailchimp campaign {tracked['campaignId']} (audience {list_id})")
    assert f"delivered: {report['emails_sent'] - hard - soft};" in text
    opens, clicks = report["opens"], report["clicks"]
    assert f"opens: {opens['unique_opens']} unique ({opens['opens_total']} total)" in text
    assert f"clicks: {clicks['unique_clicks']} unique ({clicks['clicks_total']} total)" in text
    assert f"hard bounces: {hard}; soft bounces: {soft};" in text
    assert f"unsubscribes: {report['unsubscribed']};" in text
    assert f"complaints: {report['abuse_reports']}." in text
    assert tracked["summary"] == {
        "sent": report["emails_sent"],
        "delivered": report["emails_sent"] - hard - soft,
        "opens": opens["unique_opens"],
        "clicks": clicks["unique_clicks"],
        "hardBounces": hard,
        "softBounces": soft,
        "unsubscribes": report["unsubscribed"],
        "complaints": report["abuse_reports"],
    }


def events_of(stack: Stack, name: str, reason: str) -> list[str]:
    body = stack.kube.get_json(
        "events", "-n", stack.namespace, f"--field-selector=involvedObject.name={name}"
    )
    return [e["message"] for e in body["items"] if e["reason"] == reason]


@pytest.mark.usefixtures("quiet_e2e_syncs")  # every CRM write counted is this test's own
def test_campaign_results_reach_the_crm_idempotently_and_incrementally(
    stack: Stack, syncs: Syncs
) -> None:
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker, name = unique("act"), unique("activity")
    people = create_people(crm, "Contacts", marker, 8)
    contacts = {p.email.lower(): p.id for p in people}
    list_id = mailchimp.new_audience(name)
    syncs.apply(
        name,
        {
            "crm": {
                "connectionRef": {"name": "crm"},
                "module": "Contacts",
                "criteria": marked(marker),
            },
            "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
            "fieldMapping": NAME_MAPPING,
            "trigger": FAST_TRIGGER,
            "campaignActivity": {"enabled": True, "interval": "1h"},
        },
    )
    first = syncs.wait_run(name, timeout=60)
    assert first["status"]["lastRun"]["counts"]["added"] == 8, first["status"]["lastRun"]

    title = unique("Winter news")
    campaign_id = send_campaign(mailchimp, list_id, title)
    generated = simulate(
        mailchimp, campaign_id, seed=7, open_rate=0.6, click_rate=0.3,
        hard_bounce_rate=0.12, soft_bounce_rate=0.0, unsubscribe_rate=0.12,
    )  # fmt: skip
    assert generated["open"] > 0

    status = activity_pass(syncs, name)
    [tracked] = status["campaigns"]
    assert tracked["campaignId"] == campaign_id and tracked["title"] == title
    assert tracked["membersUpdated"] == 8 and tracked["membersUnmatched"] == 0
    check_crm_campaign(crm, mailchimp, tracked, list_id)
    expected = expected_statuses(mailchimp, campaign_id)
    assert set(expected) == set(contacts)
    assert member_statuses(crm, contacts, tracked["crmCampaignId"]) == expected
    assert len(set(expected.values())) > 1  # the made-up activity differs between people
    assert events_of(stack, name, "CampaignActivity")

    # A second pass with nothing new writes nothing to the CRM.
    writes = crm_writes(stack)
    again = activity_pass(syncs, name)
    assert crm_writes(stack) == writes
    assert again["campaigns"][0]["activitySince"] == tracked["activitySince"]
    assert again["campaigns"][0]["membersUpdated"] == 8

    # New activity afterwards is picked up: statuses only move up, the summary follows.
    simulate(mailchimp, campaign_id, seed=8, open_rate=0.95, click_rate=0.7)
    later = activity_pass(syncs, name)
    [tracked_later] = later["campaigns"]
    assert tracked_later["crmCampaignId"] == tracked["crmCampaignId"]
    assert crm_writes(stack) > writes
    assert tracked_later["membersUpdated"] > 8
    check_crm_campaign(crm, mailchimp, tracked_later, list_id)
    assert member_statuses(crm, contacts, tracked["crmCampaignId"]) == expected_statuses(
        mailchimp, campaign_id
    )
    # One CRM Campaigns record for the campaign, however many passes.
    found = crm.http.get(
        "/Campaigns/search", params={"criteria": f"(Campaign_Name:equals:{title})"}
    )
    assert found.status_code == 200 and len(found.json()["data"]) == 1


def test_a_zoho_campaigns_target_reports_the_pass_as_failed_without_failing_the_run(
    stack: Stack, syncs: Syncs
) -> None:
    crm = CrmReader(stack.sim)
    marker, name = unique("actzc"), unique("activity-zc")
    create_people(crm, "Contacts", marker, 1)
    listkey = CampaignsReader(stack.sim).new_list(name)
    syncs.apply(
        name,
        {
            "crm": {
                "connectionRef": {"name": "crm"},
                "module": "Contacts",
                "criteria": marked(marker),
            },
            "target": {"connectionRef": {"name": "campaigns"}, "listId": listkey},
            "trigger": {"mode": "Manual"},
            "campaignActivity": {"enabled": True},
        },
    )

    def reported() -> dict[str, Any] | None:
        status = syncs.get(name).get("status") or {}
        return status if status.get("campaignActivity") else None

    status = wait_for(reported, timeout=60, what=f"{name} campaign activity reported")
    assert status["lastRun"]["outcome"] == "Succeeded", status["lastRun"]
    assert status["campaignActivity"]["outcome"] == "Failed"
    assert "Mailchimp" in status["campaignActivity"]["message"]
    assert events_of(stack, name, "CampaignActivityFailed")
