"""ContactSync CRM → Zoho Campaigns end to end (issue 4; seeds 000 and 003).

Zoho Campaigns takes one ``listsubscribe`` call per contact, paced under Zoho's documented
500/min and 12,500/h, so these tests stay at a few hundred records. Each test has its own
list and its own CRM records (selected by a marker in ``Description``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import FAST_TRIGGER, Syncs, condition_of, create_people, marked, unique
from tests.e2e.vendors import CampaignsReader, CrmReader, crm_convert_lead

pytestmark = pytest.mark.e2e

INITIAL_LOAD = 300
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
