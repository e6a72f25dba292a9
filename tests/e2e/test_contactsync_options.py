"""ContactSync options end to end against Mailchimp (issue 4, point 3): each test creates its
own CRM records (marked so no other test's records take part) and its own audience, applies
a ContactSync with kubectl, and reads the audience back straight from the vendor's API."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import (
    FAST_TRIGGER,
    Syncs,
    condition_of,
    create_people,
    email_of,
    manifest,
    marked,
    unique,
)
from tests.e2e.vendors import CrmReader, MailchimpReader, crm_create_many, mailchimp_member

pytestmark = pytest.mark.e2e

NAME_MAPPING = [
    {"crmField": "First_Name", "campaignField": "FNAME"},
    {"crmField": "Last_Name", "campaignField": "LNAME"},
]


def mailchimp_spec(
    list_id: str,
    *,
    module: str = "Contacts",
    criteria: list[dict[str, Any]] | None = None,
    mapping: list[dict[str, Any]] | None = None,
    **options: Any,
) -> dict[str, Any]:
    crm: dict[str, Any] = {"connectionRef": {"name": "crm"}, "module": module}
    if criteria is not None:
        crm["criteria"] = criteria
    return {
        "crm": crm,
        "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
        "fieldMapping": NAME_MAPPING if mapping is None else mapping,
        "trigger": FAST_TRIGGER,
        **options,
    }


@pytest.fixture
def crm(stack: Stack) -> CrmReader:
    return CrmReader(stack.sim)


@pytest.fixture
def mailchimp(stack: Stack) -> MailchimpReader:
    return MailchimpReader(stack.sim)


def status_of(mailchimp: MailchimpReader, list_id: str, email: str) -> str:
    member = mailchimp_member(mailchimp, list_id, email)
    return "absent" if member is None else str(member["status"])


def wait_statuses(
    mailchimp: MailchimpReader, list_id: str, wanted: dict[str, str], *, timeout: float = 60
) -> None:
    """Until each address has the wanted status (``absent``, ``subscribed``, ``archived`` …)."""

    def reached() -> dict[str, str] | None:
        seen = {e: status_of(mailchimp, list_id, e) for e in wanted}
        return seen if seen == wanted else None

    try:
        wait_for(reached, timeout=timeout, what=f"member statuses {wanted}")
    except AssertionError as exc:
        seen = {e: status_of(mailchimp, list_id, e) for e in wanted}
        raise AssertionError(f"{exc}; seen {seen}") from None


def wait_merge_field(
    mailchimp: MailchimpReader, list_id: str, email: str, tag: str, value: str
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        member = mailchimp_member(mailchimp, list_id, email)
        return member if member and member["merge_fields"].get(tag) == value else None

    return wait_for(reached, timeout=60, what=f"{email} {tag}={value!r}")


# -- P1 (part 1): a one-off schedule is applied first and checked at the end of the file ---


@pytest.fixture(scope="module")
def scheduled(stack: Stack) -> dict[str, Any]:
    """A Scheduled/Once sync due at the next whole minute at least 40 s away, with
    ``crm.modifiedAfter`` between an older and a newer record."""
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker = unique("sched")
    list_id = mailchimp.new_audience(marker)
    older = create_people(crm, "Contacts", marker, 1)[0]
    time.sleep(1.5)
    cutoff = datetime.now(UTC).replace(microsecond=0)
    time.sleep(1.5)
    newer = crm_create_many(
        crm,
        "Contacts",
        [{"Last_Name": "Newer", "Email": email_of(marker, 99), "Description": marker}],
    )[0]
    due = (datetime.now(UTC) + timedelta(seconds=100)).replace(second=0, microsecond=0)
    spec = mailchimp_spec(list_id, criteria=marked(marker))
    spec["crm"]["modifiedAfter"] = cutoff.isoformat().replace("+00:00", "Z")
    spec["trigger"] = {
        "mode": "Scheduled",
        "schedule": {
            "frequency": "Once",
            "date": due.date().isoformat(),
            "at": due.strftime("%H:%M"),
        },
    }
    syncs = Syncs(stack)
    syncs.apply(marker, spec)
    return {
        "syncs": syncs,
        "name": marker,
        "list_id": list_id,
        "due": due,
        "older": older.email,
        "newer": email_of(marker, 99),
        "newer_id": newer,
    }


def test_scheduled_once_does_not_run_before_its_time(
    scheduled: dict[str, Any], mailchimp: MailchimpReader
) -> None:
    """P1: a Scheduled trigger makes no initial run; nothing reaches the audience early."""
    syncs: Syncs = scheduled["syncs"]
    body = syncs.wait_condition(scheduled["name"], "Ready", "True")
    assert datetime.now(UTC) < scheduled["due"]
    assert not (body.get("status") or {}).get("lastRun")
    assert mailchimp.members(scheduled["list_id"]) == {}


# -- Z1: a custom module ----------------------------------------------------------------


def test_custom_module_records_sync(
    stack: Stack, syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """Z1: a custom module (Subscribers, found in /settings/modules) syncs like Contacts."""
    modules = crm.http.get("/settings/modules").json()["modules"]
    custom = {m["api_name"] for m in modules if m.get("generated_type") == "custom"}
    assert "Subscribers" in custom
    marker = unique("custom")
    list_id = mailchimp.new_audience(marker)
    rows = [
        {"Name": f"Sub {i}", "Email": email_of(marker, i), "Signup_Source": "Event"}
        for i in range(3)
    ]
    ids = crm_create_many(crm, "Subscribers", rows)
    mapping = [
        {"crmField": "Name", "campaignField": "FNAME"},
        {"crmField": "Signup_Source", "campaignField": "SOURCE"},
    ]
    syncs.apply(
        marker,
        mailchimp_spec(
            list_id,
            module="Subscribers",
            mapping=mapping,
            criteria=[{"field": "Signup_Source", "operator": "equals", "values": ["Event"]}],
        ),
    )
    body = syncs.wait_run(marker)
    assert condition_of(body, "Synced")["status"] == "True", body["status"]  # type: ignore[index]
    members = mailchimp.members(list_id)
    ours = {email_of(marker, i) for i in range(3)}
    assert ours <= set(members)
    for record_id, row in zip(ids, rows, strict=True):
        member = members[row["Email"]]
        assert member["merge_fields"]["CRMID"] == f"Subscribers:{record_id}"
        assert member["merge_fields"]["FNAME"] == row["Name"]
        assert member["merge_fields"]["SOURCE"] == "Event"
        assert member["status"] == "subscribed"


# -- Z3: related Account fields ----------------------------------------------------------


def test_related_account_fields_are_carried_onto_the_contact(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """Z3: the contact's Account values fill merge fields; an Account edit reaches them
    "instantly too": the channel carries the Account's edits, routed to its Contacts."""
    marker = unique("account")
    list_id = mailchimp.new_audience(marker)
    account_id = crm.create("Accounts", {"Account_Name": f"Acme {marker}", "Industry": "Retail"})
    people = create_people(
        crm, "Contacts", marker, 2, lambda _: {"Account_Name": {"id": account_id}}
    )
    mapping = [
        *NAME_MAPPING,
        {"crmField": "Account_Name", "campaignField": "COMPANY", "related": "Account"},
        {"crmField": "Industry", "campaignField": "INDUSTRY", "related": "Account"},
    ]
    syncs.apply(marker, mailchimp_spec(list_id, criteria=marked(marker), mapping=mapping))
    syncs.wait_run(marker)
    for person in people:
        member = mailchimp_member(mailchimp, list_id, person.email)
        assert member is not None
        assert member["merge_fields"]["COMPANY"] == f"Acme {marker}"
        assert member["merge_fields"]["INDUSTRY"] == "Retail"

    channel = wait_for(
        lambda: syncs.get(marker)["status"].get("notificationChannel"),
        timeout=30,
        what="the notification channel",
    )
    # The Connection's channel carries what every sync on it needs (others may want more).
    assert {"Contacts.all", "Accounts.edit"} <= set(channel["events"]), channel

    # No sync-now, and the Contacts themselves are unchanged: only the Account's edit
    # notification can bring the new value before a full comparison.
    edited = time.monotonic()
    crm.update("Accounts", account_id, {"Industry": "Finance"})
    for person in people:
        wait_merge_field(mailchimp, list_id, person.email, "INDUSTRY", "Finance")
    print(f"Account edit → both members: {time.monotonic() - edited:.2f} s")
    history = syncs.get(marker)["status"]["history"]
    carried = [r for r in history if (r.get("counts") or {}).get("updated")]
    assert carried and carried[0]["trigger"] == "Notification", history  # newest first


def test_the_contacts_newest_deal_fills_merge_fields_and_deal_changes_arrive_by_notification(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """Z3 for Deals: a Contact's members carry its most recently modified Deal's values; a
    new Deal or a Deal edit reaches them "instantly too", though the Contact is unchanged."""
    marker = unique("deal")
    list_id = mailchimp.new_audience(marker)
    with_deal, without = create_people(crm, "Contacts", marker, 2)

    def deal(name: str, stage: str) -> str:
        values = {"Deal_Name": name, "Stage": stage, "Contact_Name": {"id": with_deal.id}}
        return crm.create("Deals", values)

    deal(f"{marker} old", "Qualification")
    time.sleep(1.1)  # Modified_Time has whole seconds
    deal(f"{marker} renewal", "Negotiation/Review")
    mapping = [
        *NAME_MAPPING,
        {"crmField": "Deal_Name", "campaignField": "DEAL", "related": "Deal"},
        {"crmField": "Stage", "campaignField": "STAGE", "related": "Deal"},
    ]
    syncs.apply(marker, mailchimp_spec(list_id, criteria=marked(marker), mapping=mapping))
    syncs.wait_run(marker)
    member = mailchimp_member(mailchimp, list_id, with_deal.email)
    assert member is not None
    assert member["merge_fields"]["DEAL"] == f"{marker} renewal"
    assert member["merge_fields"]["STAGE"] == "Negotiation/Review"
    alone = mailchimp_member(mailchimp, list_id, without.email)
    assert alone is not None and alone["merge_fields"]["STAGE"] == ""

    channel = wait_for(
        lambda: syncs.get(marker)["status"].get("notificationChannel"),
        timeout=30,
        what="the notification channel",
    )
    assert {"Contacts.all", "Deals.create", "Deals.edit"} <= set(channel["events"]), channel

    created = time.monotonic()
    newest = deal(f"{marker} upsell", "Proposal/Price Quote")
    wait_merge_field(mailchimp, list_id, with_deal.email, "DEAL", f"{marker} upsell")
    print(f"new Deal → member: {time.monotonic() - created:.2f} s")
    edited = time.monotonic()
    crm.update("Deals", newest, {"Stage": "Closed Won"})
    wait_merge_field(mailchimp, list_id, with_deal.email, "STAGE", "Closed Won")
    print(f"Deal edit → member: {time.monotonic() - edited:.2f} s")
    history = syncs.get(marker)["status"]["history"]
    carried = [r for r in history if (r.get("counts") or {}).get("updated")]
    assert len(carried) >= 2 and {r["trigger"] for r in carried[:2]} == {"Notification"}, history


# -- Z7: update empty values on / off ------------------------------------------------------


def test_update_empty_values_on_clears_and_off_keeps(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """Z7: a mapped value cleared in the CRM is cleared in the audience only when on."""
    marker = unique("empty")
    person = create_people(crm, "Contacts", marker, 1, lambda _: {"Title": "Engineer"})[0]
    mapping = [*NAME_MAPPING, {"crmField": "Title", "campaignField": "TITLE"}]
    lists = {flag: mailchimp.new_audience(f"{marker}-{flag}") for flag in (True, False)}
    for flag, list_id in lists.items():
        syncs.apply(
            f"{marker}-{str(flag).lower()}",
            mailchimp_spec(
                list_id, criteria=marked(marker), mapping=mapping, updateEmptyValues=flag
            ),
        )
    for list_id in lists.values():
        wait_merge_field(mailchimp, list_id, person.email, "TITLE", "Engineer")

    crm.update("Contacts", person.id, {"Title": None, "First_Name": "Cleared"})
    for list_id in lists.values():
        wait_merge_field(mailchimp, list_id, person.email, "FNAME", "Cleared")
    on = mailchimp_member(mailchimp, lists[True], person.email)
    off = mailchimp_member(mailchimp, lists[False], person.email)
    assert on is not None and on["merge_fields"]["TITLE"] == ""
    assert off is not None and off["merge_fields"]["TITLE"] == "Engineer"


# -- Z8 / Z17: CRM opt-outs ----------------------------------------------------------------


def test_crm_opt_outs_are_excluded_unsubscribed_or_archived(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """Z8/Z17: an opted-out record is never added; one that opts out later is left alone
    (Exclude), unsubscribed (Unsubscribe) or archived (Archive)."""
    marker = unique("optout")
    never, later, stays = create_people(
        crm, "Contacts", marker, 3, lambda i: {"Email_Opt_Out": i == 0}
    )
    lists = {
        action: mailchimp.new_audience(f"{marker}-{action}")
        for action in ("Exclude", "Unsubscribe", "Archive")
    }
    for action, list_id in lists.items():
        syncs.apply(
            f"{marker}-{action.lower()}",
            mailchimp_spec(list_id, criteria=marked(marker), optOutPolicy={"crmOptOut": action}),
        )
    for list_id in lists.values():
        wait_statuses(
            mailchimp,
            list_id,
            {never.email: "absent", later.email: "subscribed", stays.email: "subscribed"},
        )

    crm.update("Contacts", later.id, {"Email_Opt_Out": True})
    expected_later = {"Exclude": "subscribed", "Unsubscribe": "unsubscribed", "Archive": "archived"}
    for action, list_id in lists.items():
        if action != "Exclude":
            wait_statuses(
                mailchimp,
                list_id,
                {
                    never.email: "absent",
                    later.email: expected_later[action],
                    stays.email: "subscribed",
                },
            )
    # Exclude: a run after the opt-out saw it and left the member as it was.
    name = f"{marker}-exclude"
    body = syncs.wait_run(name, after=syncs.sync_now(name))
    assert body["status"]["counts"]["skippedByReason"].get("opted_out", 0) >= 2
    assert status_of(mailchimp, lists["Exclude"], later.email) == "subscribed"
    assert status_of(mailchimp, lists["Exclude"], never.email) == "absent"


# -- Z10: an unmappable field ------------------------------------------------------------


def test_unmappable_lookup_field_is_refused_with_a_reason(
    stack: Stack, syncs: Syncs, mailchimp: MailchimpReader
) -> None:
    """Z10: the API server refuses unmappable names outright; a lookup field (Owner, a
    custom multi-user lookup) passes that check and the operator refuses it by its kind."""
    marker = unique("unmappable")
    list_id = mailchimp.new_audience(marker)
    refused = stack.kube.kubectl(
        "apply", "-n", stack.namespace, "-f", "-", check=False,
        stdin=manifest(marker, mailchimp_spec(
            list_id, mapping=[{"crmField": "Modified_By", "campaignField": "MODBY"}]
        )),
    )  # fmt: skip
    assert refused.returncode != 0 and "Modified_By cannot be mapped" in refused.stderr

    mapping = [
        *NAME_MAPPING,
        {"crmField": "Owner", "campaignField": "OWNER"},
        {"crmField": "Account_Managers", "campaignField": "MANAGERS"},
    ]
    syncs.apply(marker, mailchimp_spec(list_id, criteria=marked(marker), mapping=mapping))
    body = syncs.wait_condition(marker, "Ready", "False")
    ready = condition_of(body, "Ready")
    assert ready is not None
    assert ready["reason"] == "UnmappableField"
    assert "Owner" in ready["message"] and "lookup" in ready["message"]
    assert "Account_Managers" in ready["message"]
    assert mailchimp.members(list_id) == {}


def test_related_fields_the_module_cannot_reach_are_refused_with_a_reason(
    syncs: Syncs, mailchimp: MailchimpReader
) -> None:
    """Z3: Leads name no Account and have no Deals: mapping their fields is a spec error
    naming the field, not members with silently empty values."""
    marker = unique("unlinked")
    list_id = mailchimp.new_audience(marker)
    mapping = [
        *NAME_MAPPING,
        {"crmField": "Industry", "campaignField": "INDUSTRY", "related": "Account"},
    ]
    syncs.apply(
        marker, mailchimp_spec(list_id, module="Leads", criteria=marked(marker), mapping=mapping)
    )
    body = syncs.wait_condition(marker, "Ready", "False")
    ready = condition_of(body, "Ready")
    assert ready is not None and ready["reason"] == "RelatedRecordMissing", ready
    assert ready["message"].startswith("spec.fieldMapping: Account fields are mapped")
    assert "Leads records name no Account" in ready["message"]
    assert mailchimp.members(list_id) == {}


# -- P5: CRM deletes -----------------------------------------------------------------------


def test_crm_delete_archives_the_member_unless_keep(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """P5: a record deleted in the CRM leaves the audience (archived, the default);
    onCrmDelete: Keep leaves the member."""
    marker = unique("delete")
    gone, stays = create_people(crm, "Contacts", marker, 2)
    lists = {action: mailchimp.new_audience(f"{marker}-{action}") for action in ("Archive", "Keep")}
    for action, list_id in lists.items():
        syncs.apply(
            f"{marker}-{action.lower()}",
            mailchimp_spec(list_id, criteria=marked(marker), onCrmDelete=action),
        )
    for list_id in lists.values():
        wait_statuses(mailchimp, list_id, {gone.email: "subscribed", stays.email: "subscribed"})

    crm.delete("Contacts", gone.id)
    wait_statuses(mailchimp, lists["Archive"], {gone.email: "archived", stays.email: "subscribed"})
    keep = f"{marker}-keep"
    syncs.wait_run(keep, after=syncs.sync_now(keep))
    assert status_of(mailchimp, lists["Keep"], gone.email) == "subscribed"


# -- B3: criteria ------------------------------------------------------------------------


def test_record_leaving_the_criteria_leaves_the_audience(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """B3/P3: a record edited so it no longer matches leaves; one edited to match arrives."""
    marker = unique("criteria")
    list_id = mailchimp.new_audience(marker)
    people = create_people(
        crm, "Contacts", marker, 3, lambda i: {"Lead_Source": "Trade Show" if i < 2 else "Chat"}
    )
    criteria = [
        *marked(marker),
        {"field": "Lead_Source", "operator": "equals", "values": ["Trade Show"]},
    ]
    syncs.apply(marker, mailchimp_spec(list_id, criteria=criteria))
    leaves, stays, joins = people
    wait_statuses(
        mailchimp,
        list_id,
        {leaves.email: "subscribed", stays.email: "subscribed", joins.email: "absent"},
    )

    crm.update("Contacts", leaves.id, {"Lead_Source": "Chat"})
    crm.update("Contacts", joins.id, {"Lead_Source": "Trade Show"})
    wait_statuses(
        mailchimp,
        list_id,
        {leaves.email: "archived", stays.email: "subscribed", joins.email: "subscribed"},
    )
    last = syncs.get(marker)["status"]["lastRun"]
    assert last["trigger"] in ("Poll", "Notification"), last


def test_a_full_run_narrowed_by_its_criteria_tells_leaving_from_deleted(
    stack: Stack, syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """Issue 14.3: a full run reads only the records its criteria may select (COQL ids, then
    by id); the record that left the criteria still takes its member out, and the member
    of a deleted record stays with onCrmDelete: Keep, as when the whole module was read."""
    marker = unique("pushdown")
    list_id = mailchimp.new_audience(marker)
    filler = [{"Last_Name": f"Filler {i}", "Email": f"{marker}.filler{i}@example.com",
               "Lead_Source": "Chat"} for i in range(1000)]  # fmt: skip
    crm_create_many(crm, "Contacts", filler)  # a module where reading it all costs more
    leaves, deleted, stays = create_people(
        crm, "Contacts", marker, 3, lambda _: {"Lead_Source": "Trade Show"}
    )
    criteria = [
        *marked(marker),
        {"field": "Lead_Source", "operator": "equals", "values": ["Trade Show"]},
    ]
    spec = mailchimp_spec(
        list_id, criteria=criteria, onCrmDelete="Keep", trigger={"mode": "Manual"}
    )
    syncs.apply(marker, spec)
    everyone = {p.email: "subscribed" for p in (leaves, deleted, stays)}
    wait_statuses(mailchimp, list_id, everyone)

    crm.update("Contacts", leaves.id, {"Lead_Source": "Chat"})
    crm.delete("Contacts", deleted.id)
    stack.sim.reset_counters("zoho_crm")
    last = syncs.wait_run(marker, after=syncs.sync_now(marker))["status"]["lastRun"]
    assert last["trigger"] == "Manual", last  # a full comparison
    queries = [
        r for r in stack.sim.counters("zoho_crm")["requests"] if r["route"] == "/crm/v8/coql"
    ]
    assert sum(r["count"] for r in queries) >= 1  # the criteria went to the CRM
    assert status_of(mailchimp, list_id, leaves.email) == "archived"
    assert status_of(mailchimp, list_id, deleted.email) == "subscribed"
    assert status_of(mailchimp, list_id, stays.email) == "subscribed"


# -- B4: mapping change backfills ------------------------------------------------------------


def test_mapping_change_backfills_existing_members(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """B4/P7: a field pair added to the mapping fills existing members, not only new ones."""
    marker = unique("backfill")
    list_id = mailchimp.new_audience(marker)
    people = create_people(crm, "Contacts", marker, 3, lambda i: {"Department": f"Dept {i}"})
    syncs.apply(marker, mailchimp_spec(list_id, criteria=marked(marker)))
    first = syncs.wait_run(marker)
    assert first["status"]["lastRun"]["counts"]["added"] == 3
    for person in people:
        member = mailchimp_member(mailchimp, list_id, person.email)
        assert member is not None and "DEPT" not in member["merge_fields"]

    syncs.patch(
        marker,
        {"fieldMapping": [*NAME_MAPPING, {"crmField": "Department", "campaignField": "DEPT"}]},
    )
    for i, person in enumerate(people):
        wait_merge_field(mailchimp, list_id, person.email, "DEPT", f"Dept {i}")
    last = syncs.get(marker)["status"]["lastRun"]
    assert last["trigger"] == "SpecChange" and last["counts"]["updated"] == 3, last


# -- Z11: suspend and resume -------------------------------------------------------------------


def test_suspend_pauses_and_resume_syncs_changes_made_meanwhile(
    syncs: Syncs, crm: CrmReader, mailchimp: MailchimpReader
) -> None:
    """Z11: with spec.suspend no run happens (Suspended=True); on resume the change made
    meanwhile arrives."""
    marker = unique("suspend")
    list_id = mailchimp.new_audience(marker)
    person = create_people(crm, "Contacts", marker, 1)[0]
    syncs.apply(marker, mailchimp_spec(list_id, criteria=marked(marker)))
    syncs.wait_run(marker)

    syncs.patch(marker, {"suspend": True})
    suspended = syncs.wait_condition(marker, "Suspended", "True")
    run_before = suspended["status"]["lastRun"]["id"]
    crm.update("Contacts", person.id, {"Last_Name": "ChangedWhilePaused"})
    time.sleep(31)  # more than a poll interval (30 s, the shortest allowed)
    assert syncs.last_run_id(marker) == run_before
    member = mailchimp_member(mailchimp, list_id, person.email)
    assert member is not None and member["merge_fields"]["LNAME"] == person.values["Last_Name"]

    syncs.patch(marker, {"suspend": False})
    wait_merge_field(mailchimp, list_id, person.email, "LNAME", "ChangedWhilePaused")
    syncs.wait_condition(marker, "Suspended", "False")


# -- P1 (part 2) -----------------------------------------------------------------------------


def test_scheduled_once_runs_at_its_time_with_only_records_modified_after(
    scheduled: dict[str, Any], mailchimp: MailchimpReader
) -> None:
    """P1: the one-off run happens at the set time and takes only records modified after
    ``crm.modifiedAfter``."""
    syncs: Syncs = scheduled["syncs"]
    try:
        body = syncs.wait_run(scheduled["name"], timeout=200)
        run = body["status"]["lastRun"]
        assert run["trigger"] == "Schedule"
        started = datetime.fromisoformat(run["startTime"].replace("Z", "+00:00"))
        assert started >= scheduled["due"]
        members = mailchimp.members(scheduled["list_id"])
        assert set(members) == {scheduled["newer"]}
        assert run["counts"]["added"] == 1
        time.sleep(6)  # a one-off runs once
        assert syncs.last_run_id(scheduled["name"]) == run["id"]
    finally:
        syncs.delete_all()
