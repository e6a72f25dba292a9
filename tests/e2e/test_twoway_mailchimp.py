"""Two-way and campaign → CRM syncs with Mailchimp, end to end (issue 7, points 1, 2 and 7):
kubectl → real API server → operator process → local Zoho CRM and Mailchimp, with
concurrent edits on both sides, read back straight from the vendors' APIs."""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import pytest

from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import FAST_TRIGGER, Person, Syncs, create_people, email_of, marked, unique
from tests.e2e.vendors import CrmReader, MailchimpReader, mailchimp_member

pytestmark = pytest.mark.e2e

NAME_MAPPING = [
    {"crmField": "First_Name", "campaignField": "FNAME"},
    {"crmField": "Last_Name", "campaignField": "LNAME"},
]
CRM_FIELDS = "Email,First_Name,Last_Name,Email_Opt_Out,Description"


def flow_spec(list_id: str, marker: str, flow: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(marker)},
        "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
        "fieldMapping": NAME_MAPPING,
        "trigger": FAST_TRIGGER,
        "flow": flow,
        **options,
    }


def person_event(
    mailchimp: MailchimpReader, list_id: str, type_: str, email: str, **body: Any
) -> None:
    """A change made in Mailchimp by the person (source user), firing Mailchimp's webhooks."""
    response = mailchimp.http.post(
        str(mailchimp.http.base_url.join(f"/_admin/mailchimp/lists/{list_id}/events")),
        json={"type": type_, "email": email, "source": "user", **body},
    )
    assert response.status_code == 200, response.text


def marked_records(crm: CrmReader, marker: str) -> dict[str, dict[str, Any]]:
    """This test's CRM records by id (by the marker, so other tests' records don't count)."""
    return {r["id"]: r for r in crm.records("Contacts", CRM_FIELDS) if r["Description"] == marker}


def events_of(stack: Stack, name: str) -> list[dict[str, Any]]:
    body = stack.kube.get_json(
        "events", "-n", stack.namespace, f"--field-selector=involvedObject.name={name}"
    )
    return list(body["items"])


def run_until(syncs: Syncs, name: str, check: Any, *, timeout: float = 180) -> dict[str, Any]:
    """Runs (sync-now) until ``check(body)`` holds."""

    def converged() -> dict[str, Any] | None:
        body = syncs.wait_run(name, after=syncs.sync_now(name), timeout=timeout)
        return body if check(body) else None

    return wait_for(converged, timeout=timeout, what=f"{name} to converge", interval=0)


def assert_both_sides_equal(
    records: dict[str, dict[str, Any]], members: dict[str, dict[str, Any]]
) -> None:
    """Record by record: every CRM record has its member with the same values, and back."""
    linked = {m["merge_fields"]["CRMID"].removeprefix("Contacts:"): m for m in members.values()}
    assert set(linked) == set(records)
    for record_id, record in records.items():
        member = linked[record_id]
        assert member["email_address"].lower() == record["Email"].lower(), record_id
        unsubscribed = member["status"] in ("unsubscribed", "cleaned")
        assert bool(record["Email_Opt_Out"]) == unsubscribed, (record_id, member["status"])
        if unsubscribed:
            continue  # opted-out records are excluded from CRM → campaign updates (Z8)
        assert member["merge_fields"]["FNAME"] == (record["First_Name"] or ""), record_id
        assert member["merge_fields"]["LNAME"] == (record["Last_Name"] or ""), record_id


def last_counts(body: dict[str, Any]) -> dict[str, Any]:
    return dict(body["status"]["lastRun"]["counts"])


@pytest.fixture
def crm(stack: Stack) -> CrmReader:
    return CrmReader(stack.sim)


@pytest.fixture
def mailchimp(stack: Stack) -> MailchimpReader:
    return MailchimpReader(stack.sim)


def test_two_way_campaign_wins_with_concurrent_edits_converges_without_loops(
    stack: Stack, syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    marker, name = unique("tw"), unique("two-way")
    people = create_people(crm, "Contacts", marker, 14)
    list_id = mailchimp.new_audience(name)
    syncs.apply(
        name, flow_spec(list_id, marker, {"type": "TwoWay", "conflictPolicy": "CampaignWins"})
    )
    first = syncs.wait_run(name, timeout=120)
    assert first["status"]["lastRun"]["counts"]["added"] == 14, first["status"]["lastRun"]
    assert_both_sides_equal(marked_records(crm, marker), mailchimp.members(list_id))

    # Both sides change at once, between two runs.
    p: list[Person] = people
    for i in (0, 1, 2):  # CRM only
        crm.update("Contacts", p[i].id, {"Last_Name": f"CrmLast{i}"})
    for i in (3, 4):  # campaign only
        person_event(mailchimp, list_id, "profile", p[i].email, merge_fields={"FNAME": f"Mc{i}"})
    # Both sides, different fields: each side's edit survives.
    crm.update("Contacts", p[5].id, {"Last_Name": "CrmLast5"})
    person_event(mailchimp, list_id, "profile", p[5].email, merge_fields={"FNAME": "Mc5"})
    # Both sides, the same field: the campaign wins.
    crm.update("Contacts", p[6].id, {"First_Name": "CrmFirst6"})
    person_event(mailchimp, list_id, "profile", p[6].email, merge_fields={"FNAME": "McFirst6"})
    # A new address in Mailchimp moves the CRM record's email (upemail).
    moved = email_of(marker, 700)
    person_event(mailchimp, list_id, "upemail", p[7].email, new_email=moved)
    # An unsubscribe while a CRM edit of the same contact is pending; a bounce.
    person_event(mailchimp, list_id, "unsubscribe", p[8].email)
    crm.update("Contacts", p[8].id, {"First_Name": "EditedWhileUnsubscribing"})
    person_event(mailchimp, list_id, "cleaned", p[9].email)
    # A new subscriber in Mailchimp.
    newcomer = email_of(marker, 900)
    person_event(
        mailchimp, list_id, "subscribe", newcomer, merge_fields={"FNAME": "Neo", "LNAME": "New"}
    )

    def settled(body: dict[str, Any]) -> bool:
        counts = last_counts(body)
        quiet = counts["added"] + counts["updated"] + counts["crmCreated"] + counts["crmUpdated"]
        return quiet == 0 and body["status"]["lastRun"]["outcome"] == "Succeeded"

    body = run_until(syncs, name, settled)
    records, members = marked_records(crm, marker), mailchimp.members(list_id)
    assert_both_sides_equal(records, members)
    by_id = records
    assert [by_id[p[i].id]["Last_Name"] for i in (0, 1, 2)] == ["CrmLast0", "CrmLast1", "CrmLast2"]
    assert [by_id[p[i].id]["First_Name"] for i in (3, 4)] == ["Mc3", "Mc4"]
    assert (by_id[p[5].id]["First_Name"], by_id[p[5].id]["Last_Name"]) == ("Mc5", "CrmLast5")
    assert by_id[p[6].id]["First_Name"] == "McFirst6"
    assert by_id[p[7].id]["Email"] == moved and len(records) == 15  # moved, not re-created
    assert by_id[p[8].id]["Email_Opt_Out"] is True
    assert by_id[p[8].id]["First_Name"] == "EditedWhileUnsubscribing"
    assert members[p[8].email]["status"] == "unsubscribed"  # never re-subscribed
    assert by_id[p[9].id]["Email_Opt_Out"] is True and members[p[9].email]["status"] == "cleaned"
    [created] = [r for r in records.values() if r["Email"] == newcomer]
    assert (created["First_Name"], created["Last_Name"]) == ("Neo", "New")
    assert members[newcomer]["merge_fields"]["CRMID"] == f"Contacts:{created['id']}"

    # No loop: two more runs write nothing on either side.
    for _ in range(2):
        body = syncs.wait_run(name, after=syncs.sync_now(name))
        assert settled(body), body["status"]["lastRun"]
    assert body["status"]["counts"]["crmOptedOut"] >= 2

    reasons = {e["reason"] for e in events_of(stack, name)}
    assert {"NewSubscriber", "ProfileUpdated", "Unsubscribed"} <= reasons or (
        "CampaignChanges" in reasons
    ), reasons


def test_two_way_crm_wins_keeps_crm_values_and_fills_only_empty_fields(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    marker, name = unique("cw"), unique("crm-wins")
    people = create_people(crm, "Contacts", marker, 3)
    crm.update("Contacts", people[2].id, {"First_Name": None})
    list_id = mailchimp.new_audience(name)
    syncs.apply(name, flow_spec(list_id, marker, {"type": "TwoWay", "conflictPolicy": "CrmWins"}))
    syncs.wait_run(name, timeout=120)
    person_event(mailchimp, list_id, "profile", people[0].email, merge_fields={"FNAME": "McEdit"})
    person_event(mailchimp, list_id, "profile", people[2].email, merge_fields={"FNAME": "Filled"})
    person_event(mailchimp, list_id, "unsubscribe", people[1].email)

    def done(_: dict[str, Any]) -> bool:
        member = mailchimp.members(list_id)[people[0].email]
        return member["merge_fields"]["FNAME"] == "First0"

    run_until(syncs, name, done)
    records = marked_records(crm, marker)
    assert records[people[0].id]["First_Name"] == "First0"  # never overwritten
    assert records[people[2].id]["First_Name"] == "Filled"  # empty: filled
    assert records[people[1].id]["Email_Opt_Out"] is True  # status flows whatever the policy
    assert_both_sides_equal(records, mailchimp.members(list_id))


def test_one_way_campaign_to_crm_creates_and_updates_records(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    marker, name = unique("c2c"), unique("to-crm")
    [existing] = create_people(crm, "Contacts", marker, 1)
    list_id = mailchimp.new_audience(name)
    for i, last in ((0, "McLast0"), (1, "Sub1"), (2, "Sub2")):
        body = {
            "email_address": email_of(marker, i),
            "status": "subscribed" if i != 2 else "unsubscribed",
            "merge_fields": {"FNAME": f"Mc{i}", "LNAME": last},
        }
        subscriber = hashlib.md5(body["email_address"].encode()).hexdigest()
        assert mailchimp.http.put(f"/lists/{list_id}/members/{subscriber}", json=body).is_success
    flow = {"type": "OneWay", "direction": "CampaignToCrm", "conflictPolicy": "CampaignWins"}
    syncs.apply(name, flow_spec(list_id, marker, flow))
    body = syncs.wait_run(name, timeout=120)
    counts = body["status"]["counts"]
    assert (counts["crmCreated"], counts["crmUpdated"], counts["added"]) == (2, 1, 0), counts
    records = {r["Email"]: r for r in marked_records(crm, marker).values()}
    assert set(records) == {email_of(marker, i) for i in range(3)}
    assert records[existing.email]["Last_Name"] == "McLast0"  # campaign wins
    assert records[email_of(marker, 2)]["Email_Opt_Out"] is True
    member = mailchimp_member(mailchimp, list_id, email_of(marker, 1))
    assert member is not None and member["merge_fields"]["CRMID"].startswith("Contacts:")
    # A CRM edit does not flow to the campaign in this direction.
    crm.update("Contacts", existing.id, {"Last_Name": "CrmOnly"})
    syncs.wait_run(name, after=syncs.sync_now(name))
    member = mailchimp_member(mailchimp, list_id, existing.email)
    assert member is not None and member["merge_fields"]["LNAME"] == "McLast0"


SCALE = int(os.environ.get("CRMSYNC_E2E_TWO_WAY_CONTACTS", "20000"))


def test_two_way_at_scale_converges_record_by_record(
    stack: Stack, syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """SCALE contacts two-way (NewestWins); 5 % edited in the CRM and another 5 % in
    Mailchimp while the full run is in progress; after the runs settle, both sides are
    equal record by record and each edit's side won."""
    marker, name = unique("scale"), unique("scale")
    people = create_people(crm, "Contacts", marker, SCALE)
    list_id = mailchimp.new_audience(name)
    started = time.monotonic()
    syncs.apply(
        name, flow_spec(list_id, marker, {"type": "TwoWay", "conflictPolicy": "NewestWins"})
    )
    first = syncs.wait_run(name, timeout=1800)
    initial_seconds = time.monotonic() - started
    assert first["status"]["lastRun"]["counts"]["added"] == SCALE, first["status"]["lastRun"]

    # Start a full run and edit both sides while it is in progress.
    before = syncs.sync_now(name)
    wait_for(
        lambda: (syncs.get(name)["status"].get("lastRun") or {}).get("id", "") > before,
        timeout=120,
        what="the full run to start",
    )
    share = max(1, SCALE // 20)
    crm_edited = people[:share]
    mc_edited = people[share : 2 * share]
    for person in crm_edited:
        crm.update("Contacts", person.id, {"Last_Name": f"Crm-{person.id}"})
    for person in mc_edited:
        person_event(
            mailchimp, list_id, "profile", person.email, merge_fields={"FNAME": f"Mc-{person.id}"}
        )
    edit_seconds = time.monotonic() - started - initial_seconds

    def settled(body: dict[str, Any]) -> bool:
        counts = last_counts(body)
        return counts["updated"] + counts["crmUpdated"] == 0

    body = run_until(syncs, name, settled, timeout=1800)
    records, members = marked_records(crm, marker), mailchimp.members(list_id)
    assert len(records) == SCALE
    assert_both_sides_equal(records, members)
    for person in crm_edited:
        assert records[person.id]["Last_Name"] == f"Crm-{person.id}"
    for person in mc_edited:
        assert records[person.id]["First_Name"] == f"Mc-{person.id}"
    total = time.monotonic() - started
    print(
        f"two-way scale: {SCALE} contacts, initial {initial_seconds:.0f}s, "
        f"edits {edit_seconds:.0f}s, converged after {total:.0f}s; "
        f"counts {body['status']['counts']}"
    )
