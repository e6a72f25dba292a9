"""Campaign activity back into the CRM: the new Mailchimp and Zoho CRM client methods, and
one whole pass, against the local servers over real HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crmsync.api.v1alpha1.activity import CampaignActivitySpec, CampaignActivityStatus
from crmsync.engine.activity import rank
from crmsync.engine.records import MemberStatus, MemberWrite, WriteOutcome
from crmsync.providers.factory import Endpoint, open_crm, open_target
from crmsync.providers.http import CallStats, ProviderError
from crmsync.providers.mailchimp import Mailchimp
from crmsync.providers.zoho_campaigns import ZohoCampaigns
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.runtime.activity import ActivityRequest, run_activity_pass
from tests.integration.conftest import (
    FAST_RETRIES,
    mailchimp_admin,
    route_calls,
    unique,
    zoho_admin,
)
from tests.integration.test_mailchimp_client import new_audience
from tests.simfixture import SimServers

pytestmark = pytest.mark.usefixtures("no_faults")


def mailchimp(endpoint: Endpoint) -> Mailchimp:
    client = open_target(endpoint, CallStats(), FAST_RETRIES)
    assert isinstance(client, Mailchimp)
    return client


def crm(endpoint: Endpoint) -> ZohoCrm:
    return open_crm(endpoint, CallStats(), FAST_RETRIES)


def send_campaign(sim: SimServers, audience: str, title: str) -> str:
    """Create, fill and send a campaign through Mailchimp's API; returns its id."""
    with mailchimp_admin(sim) as admin:
        created = admin.post(
            "/campaigns",
            json={
                "type": "regular",
                "recipients": {"list_id": audience},
                "settings": {
                    "subject_line": f"{title} subject",
                    "title": title,
                    "from_name": "crmsync",
                    "reply_to": "news@crmsync.dev",
                },
            },
        )
        created.raise_for_status()
        campaign_id = str(created.json()["id"])
        admin.put(
            f"/campaigns/{campaign_id}/content", json={"html": "<p>Hi</p>"}
        ).raise_for_status()
        admin.post(f"/campaigns/{campaign_id}/actions/send").raise_for_status()
    return campaign_id


def simulate(sim: SimServers, campaign_id: str, **rates: Any) -> dict[str, int]:
    response = httpx.post(
        f"{sim.base_url('mailchimp')}/_admin/mailchimp/campaigns/{campaign_id}/simulate",
        json=rates,
        timeout=30,
    )
    response.raise_for_status()
    return dict(response.json()["generated"])


def all_pages(admin: httpx.Client, path: str, key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = admin.get(path, params={"count": 1000, "offset": len(rows)}).json()
        rows += page[key]
        if not page[key] or len(rows) >= page["total_items"]:
            return rows


def expected_statuses(sim: SimServers, campaign_id: str) -> dict[str, str]:
    """Each recipient's Member Status from Mailchimp's raw report, worked out here: the
    recipients from sent-to (email-activity lists only those with activity)."""
    with mailchimp_admin(sim) as admin:
        sent_to = all_pages(admin, f"/reports/{campaign_id}/sent-to", "sent_to")
        emails = all_pages(admin, f"/reports/{campaign_id}/email-activity", "emails")
        unsubscribed = {
            u["email_address"]
            for u in admin.get(f"/reports/{campaign_id}/unsubscribed").json()["unsubscribes"]
        }
    done: dict[str, set[str]] = {row["email_address"]: set() for row in sent_to}
    for row in sent_to:
        if row["status"] in ("hard", "soft"):
            done[row["email_address"]].add("bounce")
    for row in emails:
        done.setdefault(row["email_address"], set()).update(a["action"] for a in row["activity"])
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


def mailchimp_reads(sim: SimServers, report: str) -> int:
    """GETs of ``/reports/{campaign_id}/<report>`` the Mailchimp server counted."""
    rows: list[dict[str, Any]] = sim.counters("mailchimp")["requests"]
    return sum(
        r["count"]
        for r in rows
        if r["method"] == "GET" and r["route"] == f"/3.0/reports/{{campaign_id}}/{report}"
    )


def report_json(sim: SimServers, campaign_id: str) -> dict[str, Any]:
    with mailchimp_admin(sim) as admin:
        return dict(admin.get(f"/reports/{campaign_id}").json())


async def fill_audience(
    client: Mailchimp, audience: str, prefix: str, count: int, crm_ids: list[str] | None = None
) -> list[str]:
    await client.ensure_text_field(audience, "CRMID", "CRM record")
    emails = [f"{prefix}.{i}@example.com" for i in range(count)]
    await client.upsert(
        audience,
        [
            MemberWrite(
                email=e,
                values={"CRMID": f"Contacts:{crm_ids[i]}"} if crm_ids else {},
                status_if_new=MemberStatus.SUBSCRIBED,
            )
            for i, e in enumerate(emails)
        ],
    )
    return emails


def create_contacts(sim: SimServers, emails: list[str]) -> list[str]:
    with zoho_admin(sim, "zoho_crm") as admin:
        response = admin.post(
            "/crm/v8/Contacts",
            json={"data": [{"Last_Name": f"P{i}", "Email": e} for i, e in enumerate(emails)]},
        )
        response.raise_for_status()
        return [str(item["details"]["id"]) for item in response.json()["data"]]


# --- Mailchimp ---------------------------------------------------------------------------


async def test_sent_campaigns_report_activity_and_unsubscribes(
    sim: SimServers, mailchimp_endpoint: Endpoint
) -> None:
    audience = new_audience(sim)
    async with mailchimp(mailchimp_endpoint) as client:
        prefix = unique("mc")
        emails = await fill_audience(client, audience, prefix, 40)
        assert await client.sent_campaigns(audience) == []
        first = send_campaign(sim, audience, unique("first"))
        second = send_campaign(sim, audience, unique("second"))
        generated = simulate(sim, first, seed=3, open_rate=0.6, click_rate=0.3,
                             unsubscribe_rate=0.1, hard_bounce_rate=0.05)  # fmt: skip
        # Newest first; both went out in the same second here, so only the set is certain.
        assert sorted(await client.sent_campaigns(audience)) == sorted([first, second])
        assert len(await client.sent_campaigns(audience, count=1)) == 1
        future = datetime.now(UTC) + timedelta(days=1)
        assert await client.sent_campaigns(audience, since=future) == []

        report = await client.campaign_report(first)
        raw = report_json(sim, first)
        assert report.campaign_id == first and report.title == raw["campaign_title"]
        assert report.sent == raw["emails_sent"] == 40
        assert report.opens == raw["opens"]["unique_opens"] > 0
        assert report.opens_total == raw["opens"]["opens_total"] == generated["open"]
        assert report.clicks == raw["clicks"]["unique_subscriber_clicks"]
        assert report.clicks_total == generated["click"]
        assert report.hard_bounces == raw["bounces"]["hard_bounces"]
        assert report.soft_bounces == raw["bounces"]["soft_bounces"]
        assert report.unsubscribes == raw["unsubscribed"] == generated["unsub"]
        assert report.complaints == raw["abuse_reports"]
        assert report.send_time.tzinfo is not None

        everyone = [r async for page in client.sent_to(first) for r in page]
        assert sorted(r.email for r in everyone) == sorted(emails)
        bounced = {r.email for r in everyone if r.reached == "Bounced"}
        assert len(bounced) == report.hard_bounces + report.soft_bounces > 0
        assert {r.reached for r in everyone} == {"Sent", "Bounced"}
        recipients = [r async for page in client.email_activity(first) for r in page]
        assert {r.email for r in recipients} < set(emails)  # only those with activity
        assert all(r.actions for r in recipients)
        actions = [a for r in recipients for a in r.actions]
        assert sum(a.action == "open" for a in actions) == generated["open"]
        later = max(a.timestamp for a in actions)
        recent = [r async for page in client.email_activity(first, since=later) for r in page]
        assert 0 < sum(len(r.actions) for r in recent) < len(actions)
        assert all(a.timestamp >= later for r in recent for a in r.actions)

        unsubscribes = await client.campaign_unsubscribes(first)
        assert len(unsubscribes) == generated["unsub"]
        assert {e for e, _ in unsubscribes} <= set(emails)


async def test_sent_to_and_email_activity_page_past_a_thousand_recipients(
    sim: SimServers, mailchimp_endpoint: Endpoint
) -> None:
    audience = new_audience(sim)
    async with mailchimp(mailchimp_endpoint) as client:
        emails = await fill_audience(client, audience, unique("big"), 1005)
        campaign = send_campaign(sim, audience, unique("big"))
        assert [page async for page in client.email_activity(campaign)] == []  # no activity
        pages = [page async for page in client.sent_to(campaign)]
        assert [len(p) for p in pages] == [1000, 5]
        assert {r.email for p in pages for r in p} == set(emails)
        assert {r.reached for p in pages for r in p} == {"Sent"}
        simulate(sim, campaign, seed=1, open_rate=1.0, click_rate=0.0, hard_bounce_rate=0.0,
                 soft_bounce_rate=0.0, unsubscribe_rate=0.0)  # fmt: skip
        pages = [page async for page in client.email_activity(campaign)]
        assert [len(p) for p in pages] == [1000, 5]


# --- Zoho CRM ----------------------------------------------------------------------------


async def test_campaign_record_and_member_statuses(sim: SimServers, crm_endpoint: Endpoint) -> None:
    name = unique("Campaign")
    contacts = create_contacts(sim, [f"{name.lower()}.{i}@example.com" for i in range(3)])
    async with crm(crm_endpoint) as client:
        created = await client.save_campaign(
            {"Campaign_Name": name, "Type": "Email", "Num_sent": 3, "Description": "x"}
        )
        assert created.outcome is WriteOutcome.CREATED and created.record_id
        found = await client.campaigns_named(name, ("Campaign_Name", "Num_sent", "Description"))
        assert [r.id for r in found] == [created.record_id]
        assert found[0].values["Num_sent"] == 3
        updated = await client.save_campaign({"Description": "y"}, created.record_id)
        assert updated.outcome is WriteOutcome.UPDATED
        assert await client.campaigns_named(unique("none"), ("Campaign_Name",)) == []

        assert await client.campaign_members(created.record_id, "Contacts") == {}
        results = await client.set_member_statuses(
            created.record_id,
            "Contacts",
            {contacts[0]: "Sent", contacts[1]: "Opened", "999999999": "Sent"},
        )
        assert results[contacts[0]].outcome is WriteOutcome.UPDATED
        assert results[contacts[1]].outcome is WriteOutcome.UPDATED
        assert results["999999999"].outcome is WriteOutcome.REJECTED
        assert results["999999999"].reason == "invalid_data"
        members = await client.campaign_members(created.record_id, "Contacts")
        assert members == {
            contacts[0]: (f"{name.lower()}.0@example.com", "Sent"),
            contacts[1]: (f"{name.lower()}.1@example.com", "Opened"),
        }
        # The person's side of the same relation (what CRM users filter by).
        assert await client.record_campaigns("Contacts", contacts[1]) == {
            created.record_id: "Opened"
        }
        assert await client.record_campaigns("Contacts", contacts[2]) == {}
        assert await client.record_campaigns("Contacts", "999999999") == {}  # gone


# --- one whole pass ----------------------------------------------------------------------


async def test_a_pass_brings_activity_back_then_writes_nothing_then_only_news(
    sim: SimServers, crm_endpoint: Endpoint, mailchimp_endpoint: Endpoint
) -> None:
    audience = new_audience(sim)
    prefix = unique("pass")
    emails = [f"{prefix}.{i}@example.com" for i in range(30)]
    ids = create_contacts(sim, emails[:25])  # five recipients have no CRM record
    async with mailchimp(mailchimp_endpoint) as mc, crm(crm_endpoint) as zc:
        await fill_audience(mc, audience, prefix, 30, [*ids, *([""] * 5)])
        campaign = send_campaign(sim, audience, unique("Pass"))
        simulate(sim, campaign, seed=11, open_rate=0.5, click_rate=0.2, unsubscribe_rate=0.1,
                 hard_bounce_rate=0.1)  # fmt: skip

        def request(previous: CampaignActivityStatus | None) -> ActivityRequest:
            return ActivityRequest(
                audience=audience,
                module="Contacts",
                email_field="Email",
                record_id_field="CRMID",
                spec=CampaignActivitySpec(enabled=True),
                previous=previous,
            )

        sent_to_reads = mailchimp_reads(sim, "sent-to")
        first = await run_activity_pass(zc, mc, request(None))
        assert first.status.outcome == "Succeeded", first.status.message
        assert first.tally.crm_created == 1 and first.tally.members_updated == 25
        assert first.tally.members_unmatched == 5
        assert mailchimp_reads(sim, "sent-to") == sent_to_reads + 1
        [tracked] = first.status.campaigns
        assert tracked.recipients_written
        assert tracked.campaign_id == campaign and tracked.crm_campaign_id
        raw = report_json(sim, campaign)
        assert tracked.summary.opens == raw["opens"]["unique_opens"]
        assert tracked.summary.unsubscribes == raw["unsubscribed"]
        statuses = await zc.campaign_members(tracked.crm_campaign_id, "Contacts")
        assert set(statuses) == set(ids)  # everyone, with activity or not
        expected = expected_statuses(sim, campaign)
        assert {email: s for email, s in statuses.values()} == {e: expected[e] for e in emails[:25]}
        assert {"Sent", "Bounced"} <= {s for _, s in statuses.values()}

        second = await run_activity_pass(zc, mc, request(first.status))
        assert second.tally.members_updated == 0 and second.tally.crm_updated == 0
        assert second.tally.campaigns_read == 0  # the report did not move: nothing read
        assert second.status.campaigns[0].activity_since == tracked.activity_since

        simulate(sim, campaign, seed=12, open_rate=0.9, click_rate=0.5)
        sent_to_reads = mailchimp_reads(sim, "sent-to")
        third = await run_activity_pass(zc, mc, request(second.status))
        assert third.tally.campaigns_read == 1 and third.tally.crm_updated == 1
        assert third.tally.members_updated > 0
        assert mailchimp_reads(sim, "sent-to") == sent_to_reads  # everyone was written once
        after = await zc.campaign_members(tracked.crm_campaign_id, "Contacts")
        expected = expected_statuses(sim, campaign)
        assert {email: s for email, s in after.values()} == {e: expected[e] for e in emails[:25]}
        assert all(rank(after[k][1]) >= rank(statuses[k][1]) for k in statuses)

        # Status lost: the record is found again by name and campaign id, not duplicated.
        fresh = await run_activity_pass(zc, mc, request(None))
        assert fresh.tally.crm_created == 0
        assert fresh.status.campaigns[0].crm_campaign_id == tracked.crm_campaign_id
        assert fresh.tally.members_updated == 0


def related_reads(sim: SimServers) -> int:
    rows: list[dict[str, Any]] = sim.counters("zoho_crm")["requests"]
    return sum(
        r["count"]
        for r in rows
        if r["method"] == "GET" and r["route"] == "/crm/v8/{module}/{id}/{related_list}"
    )


async def test_a_few_new_opens_on_a_big_campaign_cost_a_few_crm_calls(
    sim: SimServers, crm_endpoint: Endpoint, mailchimp_endpoint: Endpoint
) -> None:
    audience = new_audience(sim)
    prefix = unique("big")
    emails = [f"{prefix}.{i}@example.com" for i in range(1005)]
    ids = [
        i
        for chunk in range(0, 1005, 100)
        for i in create_contacts(sim, emails[chunk : chunk + 100])
    ]
    async with mailchimp(mailchimp_endpoint) as mc, crm(crm_endpoint) as zc:
        await fill_audience(mc, audience, prefix, 1005, ids)
        campaign = send_campaign(sim, audience, unique("Big"))
        request = ActivityRequest(
            audience=audience,
            module="Contacts",
            email_field="Email",
            record_id_field="CRMID",
            spec=CampaignActivitySpec(enabled=True),
            previous=None,
        )
        first = await run_activity_pass(zc, mc, request)
        assert first.tally.members_updated == 1005  # everyone: Sent
        generated = simulate(
            sim, campaign, seed=5, open_rate=0.0015, click_rate=0.0,
            hard_bounce_rate=0.0, soft_bounce_rate=0.0, unsubscribe_rate=0.0,
        )  # fmt: skip
        opened = expected_statuses(sim, campaign)
        openers = [e for e, s in opened.items() if s == "Opened"]
        assert 0 < len(openers) < 6, generated
        reads = related_reads(sim)
        second = await run_activity_pass(zc, mc, replace(request, previous=first.status))
        assert second.tally.members_updated == len(openers)
        assert related_reads(sim) - reads == len(openers)  # not the 6 pages of the list
        statuses = await zc.campaign_members(first.status.campaigns[0].crm_campaign_id, "Contacts")
        assert {email: s for email, s in statuses.values()} == opened


async def test_refused_writes_keep_the_checkpoint_and_are_retried(
    sim: SimServers, crm_endpoint: Endpoint, mailchimp_endpoint: Endpoint
) -> None:
    audience = new_audience(sim)
    prefix = unique("fault")
    emails = [f"{prefix}.{i}@example.com" for i in range(12)]
    ids = create_contacts(sim, emails)
    with zoho_admin(sim, "zoho_crm") as admin:  # its member still names it: gone, not failed
        assert admin.delete("/crm/v8/Contacts", params={"ids": ids[0]}).status_code == 200
    async with mailchimp(mailchimp_endpoint) as mc, crm(crm_endpoint) as zc:
        await fill_audience(mc, audience, prefix, 12, ids)
        campaign = send_campaign(sim, audience, unique("Fault"))
        simulate(sim, campaign, seed=21, open_rate=0.5, click_rate=0.2, unsubscribe_rate=0.0)
        request = ActivityRequest(
            audience=audience,
            module="Contacts",
            email_field="Email",
            record_id_field="CRMID",
            spec=CampaignActivitySpec(enabled=True),
            previous=None,
        )
        first = await run_activity_pass(zc, mc, request)
        [tracked] = first.status.campaigns
        assert (tracked.members_updated, tracked.members_unmatched) == (11, 1)
        assert tracked.members_failed == 0 and tracked.activity_since is not None

        simulate(sim, campaign, seed=22, open_rate=0.9, click_rate=0.6, unsubscribe_rate=0.0)
        sim.set_faults("zoho_crm", rate_500=1.0)
        with pytest.raises(ProviderError):  # the reconciler keeps the previous status
            await run_activity_pass(zc, mc, replace(request, previous=first.status))

        sim.set_faults("zoho_crm", rate_429=0.3, retry_after_seconds=0, seed=1)
        third = await run_activity_pass(zc, mc, replace(request, previous=first.status))
        assert third.status.outcome == "Succeeded", third.status.message
        assert third.tally.members_updated > 0
        sim.set_faults("zoho_crm")
        statuses = await zc.campaign_members(tracked.crm_campaign_id, "Contacts")
        expected = expected_statuses(sim, campaign)
        assert {email: s for email, s in statuses.values()} == {e: expected[e] for e in emails[1:]}
        assert third.status.campaigns[0].activity_since >= tracked.activity_since


# --- Zoho Campaigns: the same pass, another provider --------------------------------------

ZC = "zoho_campaigns"
RECIPIENTS_ROUTE = "/api/v1.1/getcampaignrecipientsdata"


def campaigns(endpoint: Endpoint) -> ZohoCampaigns:
    client = open_target(endpoint, CallStats(), FAST_RETRIES)
    assert isinstance(client, ZohoCampaigns)
    return client


def new_list(sim: SimServers) -> str:
    with zoho_admin(sim, ZC) as admin:
        body = admin.post(
            "/api/v1.1/addlistandcontacts",
            data={"listname": unique("list"), "signupform": "private", "mode": "newlist",
                  "resfmt": "JSON"},
        ).json()  # fmt: skip
    assert body["code"] == "0", body
    return str(body["listkey"])


async def zoho_campaign(client: ZohoCampaigns, listkey: str, emails: list[str], name: str) -> str:
    """Members on the list, then createCampaign and sendcampaign: Zoho Campaigns' API."""
    results = await client.upsert(
        listkey,
        [MemberWrite(email=e, values={}, status_if_new=MemberStatus.SUBSCRIBED) for e in emails],
    )
    assert all(r.outcome is not WriteOutcome.REJECTED for r in results), results
    key = await client.create_campaign(
        name=name, subject=f"{name} news", from_email="news@crmsync.dev", listkey=listkey
    )
    assert await client.send_campaign(key)
    return key


def zoho_simulate(sim: SimServers, key: str, **rates: Any) -> dict[str, str]:
    with zoho_admin(sim, ZC) as admin:
        response = admin.post(f"/_admin/zoho_campaigns/campaigns/{key}/simulate", json=rates)
        response.raise_for_status()
        return dict(response.json())


def zoho_expected(sim: SimServers, key: str) -> dict[str, str]:
    """Each recipient's Member Status from Zoho Campaigns' raw recipient lists."""
    order = [
        ("sentcontacts", "Sent"), ("senthardbounce", "Bounced"), ("sentsoftbounce", "Bounced"),
        ("openedcontacts", "Opened"), ("clickedcontacts", "Responded"),
        ("optoutcontacts", "Opted Out"), ("spamcontacts", "Opted Out"),
    ]  # fmt: skip
    out: dict[str, str] = {}
    with zoho_admin(sim, ZC) as admin:
        for action, status in order:
            body = admin.post(
                "/api/v1.1/getcampaignrecipientsdata",
                data={"campaignkey": key, "action": action, "range": "1000", "resfmt": "JSON"},
            ).json()
            for row in body.get("list_of_details") or []:
                out[row["contactemailaddress"].lower()] = status
    return out


async def test_zoho_campaigns_report_lists_and_recipients(
    sim: SimServers, campaigns_endpoint: Endpoint
) -> None:
    listkey, other = new_list(sim), new_list(sim)
    prefix = unique("zcr")
    emails = [f"{prefix}.{i}@example.com" for i in range(20)]
    async with campaigns(campaigns_endpoint) as client:
        key = await zoho_campaign(client, listkey, emails, unique("Zoho report"))
        elsewhere = await zoho_campaign(client, other, emails[:3], unique("Other list"))
        counts = zoho_simulate(sim, key, seed=4, open_rate=0.6, click_rate=0.5,
                               hard_bounce_rate=0.1, unsubscribe_rate=0.1)  # fmt: skip
        recent = dict(await client.recent_sent_campaigns(20))
        assert {key, elsewhere} <= set(recent)
        assert await client.campaign_lists(key) == [listkey]
        assert await client.campaign_lists(elsewhere) == [other]
        report = await client.campaign_report(key)
        assert report.source == "Zoho Campaigns" and report.campaign_id == key
        assert report.sent == int(counts["emails_sent_count"]) == 20
        assert report.opens == int(counts["opens_count"]) > 0
        assert report.clicks == int(counts["unique_clicks_count"])
        assert report.hard_bounces == int(counts["hardbounce_count"]) > 0
        assert report.unsubscribes == int(counts["unsub_count"])
        assert abs(report.send_time.timestamp() * 1000 - recent[key]) < 1000
        assert sorted(await client.campaign_recipients(key, "sentcontacts")) == sorted(emails)
        opened = await client.campaign_recipients(key, "openedcontacts")
        assert len(opened) == report.opens


async def test_a_zoho_campaigns_pass_brings_results_back_then_only_moved_lists(
    sim: SimServers, crm_endpoint: Endpoint, campaigns_endpoint: Endpoint
) -> None:
    listkey, other = new_list(sim), new_list(sim)
    prefix = unique("zpass")
    emails = [f"{prefix}.{i}@example.com" for i in range(24)]
    ids = create_contacts(sim, emails[:20])  # four recipients have no CRM record
    async with campaigns(campaigns_endpoint) as zcamp, crm(crm_endpoint) as zc:
        key = await zoho_campaign(zcamp, listkey, emails, unique("Zoho pass"))
        await zoho_campaign(zcamp, other, emails[:2], unique("Not this list"))
        zoho_simulate(sim, key, seed=9, open_rate=0.5, click_rate=0.4, hard_bounce_rate=0.1,
                      soft_bounce_rate=0.05, unsubscribe_rate=0.1, complaint_rate=0.05)  # fmt: skip

        def request(previous: CampaignActivityStatus | None) -> ActivityRequest:
            return ActivityRequest(
                audience=listkey,
                module="Contacts",
                email_field="Email",
                record_id_field="CRM Record ID",
                spec=CampaignActivitySpec(enabled=True),
                previous=previous,
                # The record index knows half of them; the others are found by email.
                record_links={e: f"Contacts:{i}" for e, i in zip(emails[:10], ids, strict=False)},
            )

        first = await run_activity_pass(zc, zcamp, request(None))
        assert first.status.outcome == "Succeeded", first.status.message
        [tracked] = first.status.campaigns  # the other list's campaign is not this sync's
        assert tracked.campaign_id == key and tracked.recipients_written
        assert first.tally.crm_created == 1 and first.tally.members_updated == 20
        assert first.tally.members_unmatched == 4
        record = (await zc.records_by_id("Campaigns", [tracked.crm_campaign_id],
                                         ("Description", "Num_sent")))[0]  # fmt: skip
        assert str(record.values["Description"]).startswith(
            f"Zoho Campaigns campaign {key} (list {listkey})"
        )
        assert record.values["Num_sent"] == 24
        statuses = await zc.campaign_members(tracked.crm_campaign_id, "Contacts")
        expected = zoho_expected(sim, key)
        assert {e: s for e, s in statuses.values()} == {e: expected[e] for e in emails[:20]}
        assert len({s for _, s in statuses.values()}) > 2

        calls = route_calls(sim, ZC, "POST", RECIPIENTS_ROUTE)
        second = await run_activity_pass(zc, zcamp, request(first.status))
        assert second.tally.campaigns_read == 0 and second.tally.members_updated == 0
        assert second.tally.crm_updated == 0
        assert route_calls(sim, ZC, "POST", RECIPIENTS_ROUTE) == calls  # counts unchanged

        zoho_simulate(sim, key, seed=10, open_rate=0.9, click_rate=0.0, hard_bounce_rate=0.0,
                      soft_bounce_rate=0.0, unsubscribe_rate=0.0, complaint_rate=0.0)  # fmt: skip
        third = await run_activity_pass(zc, zcamp, request(second.status))
        assert third.tally.campaigns_read == 1 and third.tally.crm_updated == 1
        assert third.tally.members_updated > 0
        # Only the opened list moved: one page and the empty page that ends it.
        assert route_calls(sim, ZC, "POST", RECIPIENTS_ROUTE) == calls + 2
        after = await zc.campaign_members(tracked.crm_campaign_id, "Contacts")
        expected = zoho_expected(sim, key)
        assert {e: s for e, s in after.values()} == {e: expected[e] for e in emails[:20]}
        assert all(rank(after[k][1]) >= rank(statuses[k][1]) for k in statuses)

        fresh = await run_activity_pass(zc, zcamp, request(None))  # status lost
        assert fresh.tally.crm_created == 0 and fresh.tally.members_updated == 0
        assert fresh.status.campaigns[0].crm_campaign_id == tracked.crm_campaign_id
