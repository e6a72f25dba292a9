"""Campaign activity back into the CRM, end to end (issue 7 point 4; Z16, C2, M10): a
Mailchimp or Zoho Campaigns ContactSync with ``campaignActivity`` enabled; a campaign
created and sent through the provider's own API; made-up recipient activity; the CRM
Campaigns record and each contact's Member Status read back straight from the vendors'
APIs."""

from __future__ import annotations

import json
from typing import Any

import httpx
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
    """Each recipient's Member Status worked out here from Mailchimp's raw report: everyone
    from sent-to (email-activity lists only recipients with activity)."""
    get = mailchimp.http.get
    sent_to = get(f"/reports/{campaign_id}/sent-to", params={"count": 1000}).json()["sent_to"]
    activity = get(f"/reports/{campaign_id}/email-activity", params={"count": 1000}).json()
    unsubscribed = {
        u["email_address"].lower()
        for u in get(f"/reports/{campaign_id}/unsubscribed").json()["unsubscribes"]
    }
    done: dict[str, set[str]] = {
        r["email_address"].lower(): {"bounce"} if r["status"] in ("hard", "soft") else set()
        for r in sent_to
    }
    for row in activity["emails"]:
        done[row["email_address"].lower()].update(a["action"] for a in row["activity"])
    out: dict[str, str] = {}
    for email, actions in done.items():
        out[email] = (
            "Opted Out" if email in unsubscribed or "unsub" in actions
            else "Responded" if "click" in actions
            else "Opened" if "open" in actions
            else "Bounced" if "bounce" in actions
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
    assert tracked["recipientsWritten"] is True  # everyone, with activity or not
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


ZOHO_LISTS = [
    ("sentcontacts", "Sent"), ("senthardbounce", "Bounced"), ("sentsoftbounce", "Bounced"),
    ("openedcontacts", "Opened"), ("clickedcontacts", "Responded"),
    ("optoutcontacts", "Opted Out"), ("spamcontacts", "Opted Out"),
]  # fmt: skip


def zoho_expected(campaigns: CampaignsReader, key: str) -> dict[str, str]:
    """Each recipient's Member Status from Zoho Campaigns' own recipient lists."""
    out: dict[str, str] = {}
    for action, status in ZOHO_LISTS:
        body = campaigns.call(
            "getcampaignrecipientsdata", {"campaignkey": key, "action": action, "range": "500"}
        )
        for row in body.get("list_of_details") or []:
            out[row["contactemailaddress"].lower()] = status
    return out


def zoho_send(campaigns: CampaignsReader, listkey: str, name: str) -> str:
    """createCampaign and sendcampaign through Zoho Campaigns' API."""
    created = campaigns.call(
        "createCampaign",
        {
            "campaignname": name,
            "subject": f"{name}: news",
            "from_email": "news@example.com",
            "list_details": json.dumps({listkey: []}),
        },
    )
    key = str(created["campaignKey"])
    campaigns.call("sendcampaign", {"campaignkey": key})
    return key


@pytest.mark.usefixtures("quiet_e2e_syncs")  # every CRM write counted is this test's own
def test_zoho_campaigns_results_reach_the_crm_incrementally(stack: Stack, syncs: Syncs) -> None:
    crm, campaigns = CrmReader(stack.sim), CampaignsReader(stack.sim)
    marker, name = unique("actzc"), unique("activity-zc")
    people = create_people(crm, "Contacts", marker, 8)
    contacts = {p.email.lower(): p.id for p in people}
    listkey = campaigns.new_list(name)
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
    first = syncs.wait_run(name, timeout=60)
    assert first["status"]["lastRun"]["counts"]["added"] == 8, first["status"]["lastRun"]

    title = unique("Zoho spring")
    key = zoho_send(campaigns, listkey, title)
    response = httpx.post(
        f"{campaigns.base_url}/_admin/zoho_campaigns/campaigns/{key}/simulate",
        json={"seed": 5, "open_rate": 0.6, "click_rate": 0.4, "hard_bounce_rate": 0.12,
              "soft_bounce_rate": 0.0, "unsubscribe_rate": 0.15, "complaint_rate": 0.0},
    )  # fmt: skip
    assert response.status_code == 200, response.text

    status = activity_pass(syncs, name)
    [tracked] = status["campaigns"]
    assert tracked["campaignId"] == key and tracked["title"] == title
    assert tracked["membersUpdated"] == 8 and tracked["recipientsWritten"] is True
    report = campaigns.call("campaignreports", {"campaignkey": key})["campaign-reports"][0]
    record = crm.http.get(f"/Campaigns/{tracked['crmCampaignId']}").json()["data"][0]
    assert record["Campaign_Name"] == title and record["Num_sent"] == 8
    assert record["Description"].startswith(f"Zoho Campaigns campaign {key} (list {listkey})")
    assert f"opens: {report['opens_count']} unique" in record["Description"]
    assert tracked["summary"]["hardBounces"] == int(report["hardbounce_count"])
    assert tracked["summary"]["unsubscribes"] == int(report["unsub_count"])
    expected = zoho_expected(campaigns, key)
    assert set(expected) == set(contacts)
    assert member_statuses(crm, contacts, tracked["crmCampaignId"]) == expected
    assert len(set(expected.values())) > 2
    assert events_of(stack, name, "CampaignActivity")

    # Nothing new: no CRM write. New opens: only they are written, statuses only move up.
    writes = crm_writes(stack)
    again = activity_pass(syncs, name)
    assert crm_writes(stack) == writes and again["campaigns"][0]["membersUpdated"] == 8
    response = httpx.post(
        f"{campaigns.base_url}/_admin/zoho_campaigns/campaigns/{key}/simulate",
        json={"seed": 6, "open_rate": 1.0, "click_rate": 0.0, "hard_bounce_rate": 0.0,
              "soft_bounce_rate": 0.0, "unsubscribe_rate": 0.0, "complaint_rate": 0.0},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    later = activity_pass(syncs, name)
    assert later["campaigns"][0]["crmCampaignId"] == tracked["crmCampaignId"]
    assert later["campaigns"][0]["membersUpdated"] > 8
    assert member_statuses(crm, contacts, tracked["crmCampaignId"]) == zoho_expected(campaigns, key)
