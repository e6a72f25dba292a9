"""The campaign → CRM half and the two-way loop guard: one case per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crmsync.engine.fingerprint import changed_on_campaign_side, fingerprint
from crmsync.engine.plan import ActionKind, Planner, Reason
from crmsync.engine.records import CrmRecord, Member, MemberStatus
from crmsync.engine.reverse import (
    CampaignChange,
    ReversePlanner,
    ReverseSkip,
    ReverseTally,
    campaign_notifications,
    crm_value,
)
from crmsync.engine.settings import SyncSettings
from tests.unit.test_plan import settings as plan_settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)
TYPES = {"First_Name": "text", "Last_Name": "text", "Email_Opt_Out": "boolean"}


def settings(policy: str = "CrmWins", two_way: bool = True, **spec: Any) -> SyncSettings:
    flow = (
        {"type": "TwoWay", "conflictPolicy": policy}
        if two_way
        else {"type": "OneWay", "direction": "CampaignToCrm", "conflictPolicy": policy}
    )
    return plan_settings(flow=flow, **spec)


def record(rid: str = "1", modified: datetime = T0, **values: Any) -> CrmRecord:
    base = {"Email": "ana@example.com", "First_Name": "Ana", "Last_Name": "Diaz"}
    return CrmRecord(id=rid, modified_time=modified, values={**base, **values})


def member(
    s: SyncSettings,
    *,
    synced: dict[str, str] | None = None,
    status: MemberStatus = MemberStatus.SUBSCRIBED,
    changed: datetime = LATER,
    opted_in: datetime | None = None,
    email: str = "ana@example.com",
    rid: str | None = "1",
    **values: str,
) -> Member:
    """A member; ``synced`` are the values the last sync left (its fingerprint)."""
    base = {"FNAME": "Ana", "LNAME": "Diaz"}
    current = {**base, **values}
    if rid is not None:
        current["CRMID"] = f"Leads:{rid}"
    if s.fingerprint_field:
        current[s.fingerprint_field] = fingerprint(s, "ana@example.com", {**base, **(synced or {})})
    return Member(email, status, current, last_changed=changed, opted_in_at=opted_in)


def plan(s: SyncSettings, m: Member, r: CrmRecord | None) -> Any:
    return ReversePlanner(s, TYPES).plan(m, r)


# -- conflicts -------------------------------------------------------------------------


def test_a_member_the_operator_wrote_is_clean_and_changes_nothing() -> None:
    s = settings()
    m = member(s)
    assert not changed_on_campaign_side(s, m)
    write = plan(s, m, record())
    assert write.crm_values == {} and write.member_values == {} and write.changes == ()


def test_crm_wins_keeps_the_crm_value_and_puts_it_back_on_the_member() -> None:
    s = settings("CrmWins")
    write = plan(s, member(s, FNAME="Anna"), record())
    assert write.crm_values == {}
    assert write.member_values["FNAME"] == "Ana"
    # Afterwards the member holds the last synced values again: clean, nothing to re-stamp.
    m = member(s, FNAME="Anna")
    after = Member(m.email, m.status, {**m.values, **write.member_values})
    assert not changed_on_campaign_side(s, after)


def test_crm_wins_fills_an_empty_crm_field_but_not_with_update_empty_values() -> None:
    s = settings("CrmWins")
    write = plan(s, member(s, FNAME="Anna"), record(First_Name=None))
    assert write.crm_values == {"First_Name": "Anna"}
    assert CampaignChange.PROFILE_UPDATED in write.changes
    strict = settings("CrmWins", updateEmptyValues=True)
    write = plan(strict, member(strict, FNAME="Anna"), record(First_Name=None))
    assert write.crm_values == {} and write.member_values["FNAME"] == ""


def test_campaign_wins_overwrites_the_crm_value() -> None:
    s = settings("CampaignWins")
    write = plan(s, member(s, FNAME="Anna"), record(First_Name="Ana-CRM-edit"))
    assert write.crm_values == {"First_Name": "Anna"}
    assert "FNAME" not in write.member_values


@pytest.mark.parametrize(("crm_modified", "winner"), [(T0, "Anna"), (LATER, "AnaCrm")])
def test_newest_wins_compares_both_modification_times(crm_modified: datetime, winner: str) -> None:
    s = settings("NewestWins")
    m = member(s, FNAME="Anna", changed=T0 + timedelta(minutes=30))
    write = plan(s, m, record(modified=crm_modified, First_Name="AnaCrm"))
    written_crm = write.crm_values.get("First_Name", "AnaCrm")
    written_member = write.member_values.get("FNAME", "Anna")
    assert written_crm == written_member == winner


@pytest.mark.parametrize("policy", ["CampaignWins", "NewestWins"])
def test_fields_changed_on_one_side_only_merge_whatever_the_policy(policy: str) -> None:
    s = settings(policy)
    m = member(s, FNAME="Anna", changed=T0)  # older than the CRM edit
    write = plan(s, m, record(modified=LATER, Last_Name="Diaz-CRM"))
    assert write.crm_values == {"First_Name": "Anna"}
    assert write.member_values["LNAME"] == "Diaz-CRM"
    after = Member(m.email, m.status, {**m.values, **write.member_values})
    assert not changed_on_campaign_side(s, after)


def test_an_empty_campaign_value_never_clears_the_crm() -> None:
    s = settings("CampaignWins")
    write = plan(s, member(s, FNAME=""), record())
    assert write.crm_values == {} and write.member_values["FNAME"] == "Ana"


def test_one_way_crm_wins_never_overwrites_and_never_writes_member_values() -> None:
    s = settings("CrmWins", two_way=False)
    write = plan(s, member(s, FNAME="Anna", LNAME="New"), record(Last_Name=None))
    assert write.crm_values == {"Last_Name": "New"}
    assert write.member_values == {}


# -- records: new, linked, moved -------------------------------------------------------


def test_a_new_subscriber_becomes_a_crm_record_and_gets_linked() -> None:
    s = settings()
    m = Member("new@example.com", MemberStatus.SUBSCRIBED, {"FNAME": "Neo", "LNAME": "Nu"})
    write = plan(s, m, None)
    assert write.creates
    assert write.crm_values == {"Email": "new@example.com", "First_Name": "Neo", "Last_Name": "Nu"}
    assert set(write.member_values) == {"CRMID", s.fingerprint_field}
    assert write.changes == (CampaignChange.NEW_SUBSCRIBER,)


def test_an_unsubscribed_newcomer_arrives_opted_out() -> None:
    s = settings()
    m = Member("gone@example.com", MemberStatus.UNSUBSCRIBED, {"LNAME": "Gone"})
    write = plan(s, m, None)
    assert write.crm_values["Email_Opt_Out"] is True and write.changes == ()


def test_a_member_whose_record_was_deleted_is_not_recreated() -> None:
    s = settings()
    assert plan(s, member(s), None).skip == ReverseSkip.CRM_RECORD_DELETED


def test_a_member_of_another_modules_sync_is_left_alone() -> None:
    s = settings()
    m = Member("x@example.com", MemberStatus.SUBSCRIBED, {"CRMID": "Contacts:9"})
    assert plan(s, m, None).skip == ReverseSkip.OTHER_MODULE


def test_an_email_changed_in_the_campaign_moves_the_crm_email() -> None:
    s = settings()
    m = member(s, email="ana.new@example.com")
    write = plan(s, m, record())
    assert write.crm_values == {"Email": "ana.new@example.com"}
    assert write.changes == (CampaignChange.EMAIL_CHANGED,)
    assert not write.creates


# -- subscription status ---------------------------------------------------------------


def test_unsubscribe_sets_the_crm_opt_out_whatever_the_conflict_policy() -> None:
    s = settings("CrmWins")
    write = plan(s, member(s, status=MemberStatus.UNSUBSCRIBED), record())
    assert write.crm_values == {"Email_Opt_Out": True}
    assert write.changes == (CampaignChange.UNSUBSCRIBED,)


def test_unsubscribe_is_ignored_when_the_policy_says_so() -> None:
    s = settings(optOutPolicy={"campaignUnsubscribe": "Ignore"})
    write = plan(s, member(s, status=MemberStatus.UNSUBSCRIBED), record())
    assert write.crm_values == {}


def test_cleaned_is_marked_in_the_crm() -> None:
    s = settings()
    write = plan(s, member(s, status=MemberStatus.CLEANED), record())
    assert write.crm_values == {"Email_Opt_Out": True}
    assert write.changes == (CampaignChange.CLEANED,)
    quiet = settings(optOutPolicy={"markCleanedInCrm": False})
    assert plan(quiet, member(quiet, status=MemberStatus.CLEANED), record()).crm_values == {}


def test_a_fresh_opt_in_clears_the_crm_opt_out_but_a_later_crm_opt_out_stands() -> None:
    s = settings()
    opted_in_after = member(s, opted_in=LATER)
    write = plan(s, opted_in_after, record(Email_Opt_Out=True, modified=T0))
    assert write.crm_values == {"Email_Opt_Out": False}
    assert write.changes == (CampaignChange.RESUBSCRIBED,)
    crm_later = record(Email_Opt_Out=True, modified=LATER + timedelta(minutes=1))
    assert plan(s, opted_in_after, crm_later).crm_values == {}


def test_crm_value_conversion() -> None:
    assert crm_value("", "text") is None
    assert crm_value("true", "boolean") is True
    assert crm_value("12", "integer") == 12
    assert crm_value("1.5", "currency") == 1.5
    assert crm_value("n/a", "integer") == "n/a"


# -- the forward half in two-way syncs -------------------------------------------------


def test_forward_writes_carry_the_fingerprint_and_skip_campaign_changed_members() -> None:
    s = settings()
    clean = member(s)
    edited_crm = record(Last_Name="Diaz-CRM")
    planner = Planner(s, {clean.email: clean}, full=False)
    [action] = planner.plan_records([edited_crm])
    assert action.kind == ActionKind.UPDATE and action.write is not None
    after = {**clean.values, **action.write.values}
    assert not changed_on_campaign_side(s, Member(clean.email, clean.status, after))

    dirty = member(s, FNAME="Anna-in-Mailchimp")
    planner = Planner(s, {dirty.email: dirty}, full=False)
    [action] = planner.plan_records([edited_crm])
    assert (action.kind, action.reason) == (ActionKind.UNCHANGED, Reason.CAMPAIGN_CHANGED)


def test_new_members_of_a_two_way_sync_are_born_clean() -> None:
    s = settings()
    [action] = Planner(s, {}, full=True).plan_records([record()])
    assert action.write is not None
    created = Member("ana@example.com", MemberStatus.SUBSCRIBED, action.write.values)
    assert not changed_on_campaign_side(s, created)


# -- notifications ---------------------------------------------------------------------


def test_few_changes_give_one_event_each_and_many_give_one_summary() -> None:
    tally = ReverseTally()
    s = settings()
    write = plan(s, member(s, status=MemberStatus.UNSUBSCRIBED), record())
    tally.note_done(write, "Email_Opt_Out", examples=5)
    assert campaign_notifications(tally) == [
        ("Unsubscribed", "unsubscribe on the campaign side: ana@example.com")
    ]
    for _ in range(10):
        tally.note_done(write, "Email_Opt_Out", examples=5)
    [(reason, message)] = campaign_notifications(tally)
    assert reason == "CampaignChanges" and "11 unsubscribe(s)" in message
    assert tally.crm_opted_out == 11
    assert campaign_notifications(None) == []


def test_a_new_subscriber_gets_the_values_the_criteria_select() -> None:
    s = settings(
        crm={"criteria": [{"field": "Lead_Source", "operator": "equals", "values": ["Web"]}]}
    )
    m = Member("new@example.com", MemberStatus.SUBSCRIBED, {"LNAME": "Nu"})
    assert plan(s, m, None).crm_values["Lead_Source"] == "Web"
