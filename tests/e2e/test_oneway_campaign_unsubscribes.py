"""Z17 in the default flow (OneWay CrmToCampaign), end to end: a person who unsubscribes
(or whose address bounces) on the campaign side gets the CRM opt-out field set as the
OptOutPolicy says — Mailchimp on the next incremental run (by the member's
``last_changed``), Zoho Campaigns on the next full comparison (its list listing has no
change time) — and nobody is ever re-subscribed. The operator's own list removals never
come back as CRM opt-outs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.conftest import OperatorProcess, Stack, wait_for
from tests.e2e.syncs import FAST_TRIGGER, Syncs, create_people, marked, unique
from tests.e2e.test_audience_webhooks import metric
from tests.e2e.vendors import CampaignsReader, CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e

CRM_FIELDS = "Email,First_Name,Last_Name,Email_Opt_Out,Description,Lead_Source"
INCREMENTAL = ("Poll", "Notification")
POLL_WAIT = 75
"""Seconds to wait for the next poll: the 30 s minimum interval plus a run, with margin."""
POLL_SECONDS = 30
"""FAST_TRIGGER's pollInterval."""


@pytest.fixture
def crm(stack: Stack) -> CrmReader:
    return CrmReader(stack.sim)


@pytest.fixture
def mailchimp(stack: Stack) -> MailchimpReader:
    return MailchimpReader(stack.sim)


@pytest.fixture
def campaigns(stack: Stack) -> CampaignsReader:
    return CampaignsReader(stack.sim)


def person_event(mailchimp: MailchimpReader, list_id: str, type_: str, email: str) -> None:
    """A change made in Mailchimp by the person (source user), as in the two-way tests."""
    response = mailchimp.http.post(
        str(mailchimp.http.base_url.join(f"/_admin/mailchimp/lists/{list_id}/events")),
        json={"type": type_, "email": email, "source": "user"},
    )
    assert response.status_code == 200, response.text


def opt_outs(crm: CrmReader, marker: str) -> dict[str, bool]:
    """This test's CRM records: id → Email_Opt_Out."""
    return {
        r["id"]: bool(r["Email_Opt_Out"])
        for r in crm.records("Contacts", CRM_FIELDS)
        if r["Description"] == marker
    }


def mailchimp_spec(list_id: str, marker: str, **options: Any) -> dict[str, Any]:
    return {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(marker)},
        "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
        "trigger": FAST_TRIGGER,
        **options,
    }


def event_reasons(stack: Stack, name: str) -> set[str]:
    body = stack.kube.get_json(
        "events", "-n", stack.namespace, f"--field-selector=involvedObject.name={name}"
    )
    return {str(e["reason"]) for e in body["items"]}


def test_mailchimp_unsubscribe_and_bounce_opt_the_crm_records_out_on_the_next_poll(
    stack: Stack,
    syncs: Syncs,
    crm: CrmReader,
    mailchimp: MailchimpReader,
    operator: OperatorProcess,
) -> None:
    marker = name = unique("ow-unsub")
    people = create_people(crm, "Contacts", marker, 4)
    list_id = mailchimp.new_audience(name)
    syncs.apply(name, mailchimp_spec(list_id, marker))
    first = syncs.wait_run(name, timeout=60)
    assert first["status"]["lastRun"]["counts"]["added"] == 4, first["status"]["lastRun"]

    unsubscribed, cleaned, *others = people
    person_event(mailchimp, list_id, "unsubscribe", unsubscribed.email)
    person_event(mailchimp, list_id, "cleaned", cleaned.email)

    wanted = {unsubscribed.id: True, cleaned.id: True, **{p.id: False for p in others}}
    wait_for(
        lambda: opt_outs(crm, marker) == wanted, timeout=POLL_WAIT, what="CRM opt-outs of the two"
    )
    # The CRM is written during the run; its counts land when it ends.
    status = wait_for(
        lambda: (st := syncs.get(name)["status"])["counts"]["crmOptedOut"] >= 2 and st,
        timeout=POLL_WAIT,
        what="the opt-outs counted",
    )
    carried = [h for h in status["history"] if h["counts"].get("crmOptedOut")]
    assert sum(h["counts"]["crmOptedOut"] for h in carried) == 2, status["history"]
    assert {h["trigger"] for h in carried} <= set(INCREMENTAL), carried
    assert status["counts"]["crmOptedOut"] == 2, status["counts"]

    # Later polls and runs (a full one) neither opt them out again nor re-subscribe anyone.
    next_poll(syncs, name, operator)
    manual_run(syncs, name)
    status = syncs.get(name)["status"]
    assert status["counts"]["crmOptedOut"] == 2, status["counts"]
    members = mailchimp.members(list_id)
    assert members[unsubscribed.email]["status"] == "unsubscribed"
    assert members[cleaned.email]["status"] == "cleaned"
    assert {members[p.email]["status"] for p in others} == {"subscribed"}
    assert opt_outs(crm, marker) == wanted
    assert {"Unsubscribed", "Cleaned"} <= event_reasons(stack, name)
    for change in ("unsubscribed", "cleaned"):
        assert metric(operator, "crmsync_campaign_changes_total", sync=name, change=change) == 1


def test_mailchimp_ignore_policy_leaves_the_crm_untouched(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader, operator: OperatorProcess
) -> None:
    marker = name = unique("ow-ignore")
    people = create_people(crm, "Contacts", marker, 2)
    list_id = mailchimp.new_audience(name)
    policy = {"campaignUnsubscribe": "Ignore", "markCleanedInCrm": False}
    syncs.apply(name, mailchimp_spec(list_id, marker, optOutPolicy=policy))
    syncs.wait_run(name, timeout=60)

    person_event(mailchimp, list_id, "unsubscribe", people[0].email)
    person_event(mailchimp, list_id, "cleaned", people[1].email)
    # The polls after both changes, then a full run.
    quiet_before = metric(operator, "crmsync_polls_total", outcome="quiet")
    wait_for(
        lambda: (
            {m["status"] for m in mailchimp.members(list_id).values()}
            == {"unsubscribed", "cleaned"}
        ),
        timeout=10,
        what="both members changed",
    )
    # Nothing this policy carries changed: the polls are quiet (issue 14: no run, nothing
    # written), or a run that does nothing if a CRM change meanwhile concerned the sync.
    # The first poll may still run once: vendor times have whole seconds, so contacts
    # created in the second the initial run started are read again (engine/quiet.py).
    ran = syncs.last_run_id(name)
    wait_for(
        lambda: metric(operator, "crmsync_polls_total", outcome="quiet") >= quiet_before + 2,
        timeout=3 * POLL_SECONDS + 15,
        what="two quiet polls",
    )
    status = syncs.get(name)["status"]
    assert status["lastRun"]["id"] == ran or status["lastRun"]["trigger"] in INCREMENTAL
    assert status["counts"]["crmOptedOut"] == 0, status["counts"]
    manual_run(syncs, name)
    counts = syncs.get(name)["status"]["counts"]
    assert counts["crmOptedOut"] == 0, counts
    assert opt_outs(crm, marker) == {people[0].id: False, people[1].id: False}
    statuses = {e: m["status"] for e, m in mailchimp.members(list_id).items()}
    assert statuses == {people[0].email: "unsubscribed", people[1].email: "cleaned"}


def next_poll(syncs: Syncs, name: str, operator: OperatorProcess) -> None:
    """Until the sync's next poll: a run, or one that found nothing for the sync and ran
    nothing (issue 14: quiet or routed)."""
    ran = syncs.last_run_id(name)

    def skipped() -> float:
        return sum(
            metric(operator, "crmsync_polls_total", outcome=outcome)
            for outcome in ("quiet", "routed")
        )

    before = skipped()
    wait_for(
        lambda: syncs.last_run_id(name) != ran or skipped() > before,
        timeout=POLL_WAIT,
        what=f"the next poll of {name}",
    )


def manual_run(syncs: Syncs, name: str) -> dict[str, Any]:
    """The sync-now run's summary (CRM notifications may bring other runs in between)."""
    asked = datetime.now(UTC)
    syncs.sync_now(name)

    def done() -> dict[str, Any] | None:
        # By start time: run ids of one second sort by trigger name, not by start.
        history = (syncs.get(name).get("status") or {}).get("history") or []
        manual = [
            r
            for r in history
            if r["trigger"] == "Manual"
            and datetime.fromisoformat(r["startTime"].replace("Z", "+00:00")) >= asked
        ]
        return manual[0] if manual and manual[0].get("endTime") else None

    return wait_for(done, timeout=60, what=f"{name}'s sync-now run")


def test_zoho_campaigns_unsubscribe_opts_the_crm_record_out_at_the_next_full_comparison(
    syncs: Syncs, crm: CrmReader, campaigns: CampaignsReader, operator: OperatorProcess
) -> None:
    """Zoho Campaigns gives no change time per list member, so the unsubscribe is seen on
    full comparisons (sync-now here; every fullResyncInterval otherwise). A record that
    left the criteria was taken off the list by the operator: it is not opted out, not
    even once it matches the criteria again (the record index remembers the removal)."""
    marker = name = unique("ow-zc-unsub")
    listkey = campaigns.new_list(marker)
    person, leaves, stays = create_people(
        crm, "Contacts", marker, 3, lambda _: {"Lead_Source": "Trade Show"}
    )
    spec: dict[str, Any] = {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(marker)},
        "target": {"connectionRef": {"name": "campaigns"}, "listId": listkey},
        "trigger": FAST_TRIGGER,
    }
    spec["crm"]["criteria"].append(
        {"field": "Lead_Source", "operator": "equals", "values": ["Trade Show"]}
    )
    syncs.apply(name, spec)

    def statuses_are(wanted: dict[str, str]) -> bool:
        held = campaigns.list_statuses(listkey)
        return {e: held.get(e, "absent") for e in wanted} == wanted

    emails = (person.email, leaves.email, stays.email)
    wait_for(lambda: statuses_are(dict.fromkeys(emails, "active")), timeout=60, what="listed")

    crm.update("Contacts", leaves.id, {"Lead_Source": "Chat"})  # the operator unsubscribes it
    wait_for(lambda: statuses_are({leaves.email: "unsub"}), timeout=30, what="left the list")
    # The person unsubscribes from the list in Zoho Campaigns (what the unsubscribe link does).
    campaigns.call(
        "json/listunsubscribe",
        {"listkey": listkey, "contactinfo": json.dumps({"Contact Email": person.email})},
    )
    # The list's listing has no change time: a quiet poll cannot see it (one that runs
    # anyway, as a poll after a run of the same second does, lists the list and may carry
    # it already) ...
    next_poll(syncs, name, operator)
    ended = wait_for(
        lambda: (st := syncs.get(name)["status"])["lastRun"].get("endTime") and st,
        timeout=60,
        what="the poll's run ended",
    )
    early = ended["counts"]["crmOptedOut"]
    assert opt_outs(crm, marker)[person.id] is bool(early)

    # ... the next full comparison does at the latest, once.
    last = manual_run(syncs, name)
    assert last["counts"]["crmOptedOut"] == 1 - early, last
    assert syncs.get(name)["status"]["counts"]["crmOptedOut"] == 1
    assert opt_outs(crm, marker) == {person.id: True, leaves.id: False, stays.id: False}
    held = campaigns.list_statuses(listkey)
    assert {e: held[e] for e in emails} == {
        person.email: "unsub",
        leaves.email: "unsub",
        stays.email: "active",
    }

    # The record that left comes back into the criteria: its contact stays off the list
    # (nobody is re-subscribed), and its CRM record is still not opted out.
    crm.update("Contacts", leaves.id, {"Lead_Source": "Trade Show"})
    again = manual_run(syncs, name)
    assert again["counts"]["crmOptedOut"] == 0, again
    assert opt_outs(crm, marker) == {person.id: True, leaves.id: False, stays.id: False}
    assert campaigns.list_statuses(listkey)[leaves.email] == "unsub"
