"""ContactSync CRM → Zoho Campaigns end to end (issue 4; seeds 000 and 003).

Zoho Campaigns takes one ``listsubscribe`` call per contact, paced under Zoho's documented
500/min and 12,500/h, so these tests stay at a few hundred records. Each test has its own
list and its own CRM records (selected by a marker in ``Description``)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from crmsync.runtime.indexcodec import Shard, configmap_name, decode_shard, shard_of
from crmsync.runtime.indexlayout import merge, to_read
from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import FAST_TRIGGER, Syncs, condition_of, create_people, marked, unique
from tests.e2e.vendors import CampaignsReader, CrmReader, crm_convert_lead

pytestmark = pytest.mark.e2e

INITIAL_LOAD = 300
SHARDED_MEMBERS = 64
"""Four shards or more of the e2e operator's record index: in two, one would hold 32
entries or more, over ``INDEX_SHARD_BYTES`` (how many depends on when the run saved)."""
FULL_LOAD = 5000
FULL_LOAD_ENV = "CRMSYNC_E2E_CAMPAIGNS_FULL_LOAD"
"""Issue 4 asks for ≥ 5,000 records. At Zoho's pace (one listsubscribe per contact, 3.4/s)
that is ≈ 24 minutes, so it runs only when this variable is 1; CI runs the 300 above."""
NAME_MAPPING = [
    {"crmField": "First_Name", "campaignField": "First Name"},
    {"crmField": "Last_Name", "campaignField": "Last Name"},
]


def campaigns_spec(
    listkey: str,
    marker: str,
    *,
    module: str = "Contacts",
    topic_id: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    target: dict[str, Any] = {"connectionRef": {"name": "campaigns"}, "listId": listkey}
    if topic_id is not None:
        target["topicId"] = topic_id
    return {
        "crm": {"connectionRef": {"name": "crm"}, "module": module, "criteria": marked(marker)},
        "target": target,
        "fieldMapping": NAME_MAPPING,
        "trigger": FAST_TRIGGER,
        **options,
    }


@pytest.fixture
def crm(stack: Stack) -> CrmReader:
    return CrmReader(stack.sim)


@pytest.fixture
def campaigns(stack: Stack) -> CampaignsReader:
    return CampaignsReader(stack.sim)


def wait_contact(campaigns: CampaignsReader, email: str, check: Any, what: str) -> dict[str, Any]:
    """The contact (admin view) once ``check(contact)`` holds."""

    def reached() -> dict[str, Any] | None:
        contact = campaigns.contact(email)
        return contact if contact is not None and check(contact) else None

    try:
        return wait_for(reached, timeout=60, what=f"{email}: {what}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; contact now {campaigns.contact(email)}") from None


def test_initial_load_to_a_list_and_topic_matches_the_target_record_by_record(
    syncs: Syncs, crm: CrmReader, campaigns: CampaignsReader
) -> None:
    """Z4 + initial load: every CRM record is a list member (and in the topic) with its
    values, or a skip with a reason; the status counts equal what the list holds."""
    marker = unique("zc-load")
    listkey, topic_id = campaigns.new_list(marker), campaigns.new_topic(marker)
    opted_out = {i for i in range(INITIAL_LOAD) if i % 50 == 7}
    duplicates = range(INITIAL_LOAD - 4, INITIAL_LOAD)  # same address as records 0-3
    people = create_people(
        crm,
        "Contacts",
        marker,
        INITIAL_LOAD,
        lambda i: (
            {"Email_Opt_Out": i in opted_out}
            | (
                {"Email": f" {marker}.{i - INITIAL_LOAD + 4}@EXAMPLE.com"}
                if i in duplicates
                else {}
            )
        ),
    )
    syncs.apply(marker, campaigns_spec(listkey, marker, topic_id=topic_id))
    body = syncs.wait_run(marker, timeout=180)
    status = body["status"]
    assert condition_of(body, "Synced")["status"] == "True", status  # type: ignore[index]

    expected = {
        p.email.strip().lower(): p
        for i, p in enumerate(people)
        if i not in opted_out and i not in duplicates
    }
    members = campaigns.list_members(listkey)
    assert set(members) == set(expected)
    for email, row in members.items():
        assert row["status"] == "active"
        assert row["firstname"] == expected[email].values["First_Name"]
        assert row["lastname"] == expected[email].values["Last_Name"]
        contact = campaigns.contact(email)
        assert contact is not None
        assert contact["topics"] == {topic_id: "active"}, contact
    for i in opted_out:
        assert campaigns.contact(people[i].email) is None

    # The initial run's own counts: a notification or poll run may already have followed
    # (a CRM change anywhere in the module wakes an Instant sync) and re-read a few records.
    counts = next(h for h in status["history"] if h["trigger"] == "Initial")["counts"]
    assert counts["total"] == INITIAL_LOAD
    assert counts["added"] == len(members) == status["members"] == INITIAL_LOAD - 10
    assert counts["skippedDuplicate"] == len(duplicates)
    assert counts["skippedByReason"] == {
        "opted_out": len(opted_out),
        "duplicate_email": len(duplicates),
    }
    assert counts["failed"] == 0


def test_subscription_type_applies_to_new_contacts_only(
    syncs: Syncs, crm: CrmReader, campaigns: CampaignsReader
) -> None:
    """Z5: contacts added while the sync says NonMarketing stay non-marketing after it
    switches to Marketing (even when updated); contacts added afterwards are marketing."""
    marker = unique("zc-subtype")
    listkey = campaigns.new_list(marker)
    first = create_people(crm, "Contacts", marker, 1)[0]
    syncs.apply(marker, campaigns_spec(listkey, marker, subscriptionType="NonMarketing"))
    wait_contact(
        campaigns, first.email, lambda c: c["subscription_type"] == "non-marketing", "added"
    )

    syncs.patch(marker, {"subscriptionType": "Marketing"})
    crm.update("Contacts", first.id, {"First_Name": "Updated"})
    later = create_people(crm, "Contacts", marker, 2)[1]
    wait_contact(campaigns, later.email, lambda c: c["subscription_type"] == "marketing", "added")
    updated = wait_contact(
        campaigns, first.email, lambda c: c["fields"].get("firstname") == "Updated", "updated"
    )
    assert updated["subscription_type"] == "non-marketing"


def test_consent_from_crm_makes_contacts_without_consent_non_marketing(
    syncs: Syncs, crm: CrmReader, campaigns: CampaignsReader
) -> None:
    """Z6: with GDPR and "update consent status from CRM", a record whose Data Processing
    Basis consent was obtained arrives as marketing with its consent; one without it
    arrives non-marketing; both carry the legal basis."""
    marker = unique("zc-consent")
    listkey = campaigns.new_list(marker)
    consented, pending = create_people(
        crm,
        "Contacts",
        marker,
        2,
        lambda i: {"Data_Processing_Basis": "Obtained" if i == 0 else "Pending"},
    )
    policy = {
        "consent": {
            "gdpr": True,
            "legalBasis": "Consent",
            "updateConsentFromCrm": True,
            "consentField": "Data_Processing_Basis",
        }
    }
    syncs.apply(marker, campaigns_spec(listkey, marker, optOutPolicy=policy))
    syncs.wait_run(marker)
    yes, no = campaigns.contact(consented.email), campaigns.contact(pending.email)
    assert yes is not None and no is not None
    assert (yes["subscription_type"], yes["consent_status"]) == ("marketing", "Consented")
    assert (no["subscription_type"], no["consent_status"]) == ("non-marketing", "Not Consented")
    assert yes["legal_basis"] == no["legal_basis"] == "Consent"


def test_converted_leads_leave_the_list_but_stay_in_all_contacts(
    syncs: Syncs, crm: CrmReader, campaigns: CampaignsReader
) -> None:
    """Z9: a lead converted in the CRM leaves the sync's list; the contact stays in all
    contacts, and the other leads stay on the list."""
    marker = unique("zc-convert")
    listkey = campaigns.new_list(marker)
    converted, stays = create_people(crm, "Leads", marker, 2, lambda _: {"Company": marker})
    syncs.apply(marker, campaigns_spec(listkey, marker, module="Leads", removeConvertedLeads=True))
    for lead in (converted, stays):
        wait_contact(campaigns, lead.email, lambda c: c["lists"] == {listkey: "active"}, "listed")

    crm_convert_lead(crm, converted.id)
    # Still in all contacts (the admin view finds it), no longer active on the list.
    wait_contact(
        campaigns, converted.email, lambda c: c["lists"] == {listkey: "unsub"}, "left the list"
    )
    still = campaigns.contact(stays.email)
    assert still is not None and still["lists"] == {listkey: "active"}


def wait_list_statuses(
    campaigns: CampaignsReader, listkey: str, wanted: dict[str, str], *, timeout: float = 90
) -> None:
    """Until each address has the wanted list status (``active``, ``unsub``, ``absent``)."""

    def reached() -> dict[str, str] | None:
        held = campaigns.list_statuses(listkey)
        seen = {e: held.get(e, "absent") for e in wanted}
        return seen if seen == wanted else None

    try:
        wait_for(reached, timeout=timeout, what=f"list statuses {wanted}")
    except AssertionError as exc:
        held = campaigns.list_statuses(listkey)
        now = {e: held.get(e, "absent") for e in wanted}
        raise AssertionError(f"{exc}; now {now}") from None


def index_configmaps(stack: Stack, name: str) -> dict[int, dict[str, Any]]:
    """The ConfigMaps of a sync's record index by shard number, found as the operator finds
    them (shard 0 ``<name>-record-index`` names how many there are)."""
    found: dict[int, dict[str, Any]] = {}
    shards: dict[int, Shard] = {}
    wanted = [0]
    while wanted:
        for number in wanted:
            result = stack.kube.kubectl(
                "get", "configmap", configmap_name(name, number), "-n", stack.namespace,
                "-o", "json", check=False,
            )  # fmt: skip
            if result.returncode != 0:
                assert number == 0, f"shard {number} of {name}'s index missing: {result.stderr}"
                return {}
            found[number] = json.loads(result.stdout)
            shards[number] = decode_shard(number, found[number]["data"])
        wanted = to_read(shards)
    return found


def record_index(stack: Stack, name: str) -> dict[str, str]:
    """The operator's record → email index of a sync, from all of its shards."""
    shards = index_configmaps(stack, name).items()
    return merge(decode_shard(number, body["data"]) for number, body in shards)[0]


def test_crm_delete_takes_the_contact_off_the_list_but_not_out_of_all_contacts(
    stack: Stack, syncs: Syncs, crm: CrmReader, campaigns: CampaignsReader
) -> None:
    """P5 on Zoho Campaigns: ``getlistsubscribers`` cannot return the ``CRM Record ID``
    field, so the deleted record's contact is found through the operator's record index;
    it leaves the list (unsubscribed from it, Archive being the default) and stays in all
    contacts; onCrmDelete: Keep leaves it on its list."""
    marker = unique("zc-delete")
    gone, stays = create_people(crm, "Contacts", marker, 2)
    lists = {action: campaigns.new_list(f"{marker}-{action}") for action in ("Archive", "Keep")}
    for action, listkey in lists.items():
        syncs.apply(
            f"{marker}-{action.lower()}", campaigns_spec(listkey, marker, onCrmDelete=action)
        )
    for listkey in lists.values():
        wait_list_statuses(campaigns, listkey, {gone.email: "active", stays.email: "active"})
    archive = f"{marker}-archive"
    index = wait_for(
        lambda: (found := record_index(stack, archive)) and len(found) == 2 and found,
        timeout=30,
        what="record index written",
    )
    assert index == {f"Contacts:{gone.id}": gone.email, f"Contacts:{stays.id}": stays.email}

    crm.delete("Contacts", gone.id)
    wait_list_statuses(campaigns, lists["Archive"], {gone.email: "unsub", stays.email: "active"})
    contact = campaigns.contact(gone.email)
    assert contact is not None, "the contact must stay in all contacts"
    assert contact["lists"][lists["Archive"]] == "unsub"
    # The contact leaves the list during the run; the run's counts land when it ends.
    wait_for(
        lambda: sum(h["counts"]["deleted"] for h in syncs.get(archive)["status"]["history"]) >= 1,
        timeout=30,
        what="the deletion counted in the sync's history",
    )
    assert record_index(stack, archive) == {f"Contacts:{stays.id}": stays.email}

    keep = f"{marker}-keep"
    syncs.wait_run(keep, after=syncs.sync_now(keep))
    assert campaigns.list_statuses(lists["Keep"])[gone.email] == "active"


def test_a_list_index_spans_several_configmaps_and_a_deletion_in_a_later_shard_unsubscribes(
    stack: Stack, syncs: Syncs, crm: CrmReader, campaigns: CampaignsReader
) -> None:
    """Issue 15.1: the record index grows over several ConfigMaps, all owned by the sync
    (the e2e operator's shards hold ``INDEX_SHARD_BYTES``, so a few dozen members take
    several). A CRM deletion of a record whose entry is in a later shard unsubscribes its
    member, and its save rewrites that one shard only."""
    marker = unique("zc-shards")
    listkey = campaigns.new_list(marker)
    people = create_people(crm, "Contacts", marker, SHARDED_MEMBERS)
    syncs.apply(marker, campaigns_spec(listkey, marker))
    wait_list_statuses(campaigns, listkey, {p.email: "active" for p in people})
    expected = {f"Contacts:{p.id}": p.email for p in people}
    wait_for(
        lambda: record_index(stack, marker) == expected,
        timeout=30,
        what="every member in the record index",
    )

    configmaps = index_configmaps(stack, marker)
    count = len(configmaps)
    assert count >= 4, f"{count} shards"
    uid = syncs.get(marker)["metadata"]["uid"]
    for number, body in configmaps.items():
        assert body["data"]["shards"] == str(count)
        assert int(body["data"]["entries"]) > 0, f"shard {number} empty"
        assert [o["uid"] for o in body["metadata"]["ownerReferences"]] == [uid]
    gone = next(p for p in people if shard_of(f"Contacts:{p.id}", count) != 0)
    shard = shard_of(f"Contacts:{gone.id}", count)
    versions = {n: b["metadata"]["resourceVersion"] for n, b in configmaps.items()}

    crm.delete("Contacts", gone.id)
    wait_list_statuses(campaigns, listkey, {gone.email: "unsub"})
    del expected[f"Contacts:{gone.id}"]
    wait_for(
        lambda: record_index(stack, marker) == expected,
        timeout=30,
        what="the deleted record's entry gone from the index",
    )
    after = index_configmaps(stack, marker)
    changed = {n for n, b in after.items() if b["metadata"]["resourceVersion"] != versions[n]}
    assert changed == {shard}, f"rewritten: {changed}, the entry was in shard {shard}"
    others = campaigns.list_statuses(listkey)
    assert all(others[p.email] == "active" for p in people if p is not gone)


def test_record_leaving_the_criteria_leaves_the_list(
    syncs: Syncs, crm: CrmReader, campaigns: CampaignsReader
) -> None:
    """B3 on Zoho Campaigns: a record edited so it no longer matches leaves the list (and
    stays in all contacts, like Z9); one edited to match joins it."""
    marker = unique("zc-criteria")
    listkey = campaigns.new_list(marker)
    leaves, stays, joins = create_people(
        crm, "Contacts", marker, 3, lambda i: {"Lead_Source": "Trade Show" if i < 2 else "Chat"}
    )
    spec = campaigns_spec(listkey, marker)
    spec["crm"]["criteria"].append(
        {"field": "Lead_Source", "operator": "equals", "values": ["Trade Show"]}
    )
    syncs.apply(marker, spec)
    wait_list_statuses(
        campaigns, listkey, {leaves.email: "active", stays.email: "active", joins.email: "absent"}
    )

    crm.update("Contacts", leaves.id, {"Lead_Source": "Chat"})
    crm.update("Contacts", joins.id, {"Lead_Source": "Trade Show"})
    wait_list_statuses(
        campaigns, listkey, {leaves.email: "unsub", stays.email: "active", joins.email: "active"}
    )
    assert campaigns.contact(leaves.email) is not None, "the contact must stay in all contacts"
    last = syncs.get(marker)["status"]["lastRun"]
    assert last["trigger"] in ("Poll", "Notification"), last


@pytest.mark.skipif(
    os.environ.get(FULL_LOAD_ENV) != "1",
    reason=f"≈ 24 min at Zoho's documented pace; set {FULL_LOAD_ENV}=1",
)
@pytest.mark.timeout(50 * 60)
def test_initial_load_of_5000_records_matches_the_target_record_by_record(
    syncs: Syncs, crm: CrmReader, campaigns: CampaignsReader
) -> None:
    """Issue 4's initial load at full size: 5,000 CRM records land on the list (or are
    skipped with a reason), every contact has its values, and the status counts equal what
    the list holds. The run keeps Zoho's documented limits (no 2101 lock is hit)."""
    marker = unique("zc-full")
    listkey = campaigns.new_list(marker)
    opted_out = {i for i in range(FULL_LOAD) if i % 50 == 7}
    duplicates = range(FULL_LOAD - 4, FULL_LOAD)  # same address as records 0-3
    people = create_people(
        crm,
        "Contacts",
        marker,
        FULL_LOAD,
        lambda i: (
            {"Email_Opt_Out": i in opted_out}
            | ({"Email": f"{marker}.{i - FULL_LOAD + 4}@example.com"} if i in duplicates else {})
        ),
    )
    started = time.monotonic()
    syncs.apply(marker, campaigns_spec(listkey, marker))

    def initial_done() -> dict[str, Any] | None:
        status = syncs.get(marker).get("status") or {}
        done = [h for h in status.get("history") or [] if h["trigger"] == "Initial"]
        return {**status, "initial": done[0]} if done and done[0].get("endTime") else None

    status = wait_for(initial_done, timeout=45 * 60, interval=10, what="the initial run")
    elapsed = time.monotonic() - started
    initial = status["initial"]

    expected = {
        p.email: p for i, p in enumerate(people) if i not in opted_out and i not in duplicates
    }
    members = campaigns.list_members(listkey)
    assert set(members) == set(expected)
    for email, row in members.items():
        assert row["status"] == "active", row
        assert row["firstname"] == expected[email].values["First_Name"], row
        assert row["lastname"] == expected[email].values["Last_Name"], row
    counts = initial["counts"]
    assert counts["total"] == FULL_LOAD
    assert counts["added"] == len(members) == status["members"] == len(expected)
    assert counts["skippedByReason"] == {
        "opted_out": len(opted_out),
        "duplicate_email": len(duplicates),
    }
    assert counts["failed"] == 0
    print(
        f"\nfull load: {FULL_LOAD} records, {len(members)} contacts, {elapsed:.0f} s "
        f"end to end, run {initial['startTime']} → {initial['endTime']}, "
        f"{initial.get('apiCalls')} API calls, {initial.get('retries')} retries, "
        f"counts {counts}"
    )
