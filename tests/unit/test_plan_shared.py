"""Several syncs on one audience: a sync removes only what no other sync claims."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from crmsync.engine.ownership import MAX_TAG_LENGTH, owner_id, owners_in_tags
from crmsync.engine.plan import ActionKind, Planner, Reason
from crmsync.engine.records import DeletedRecord, Member
from crmsync.engine.settings import SyncSettings
from tests.unit.test_plan import T0, member, record, settings

ME = owner_id("team", "leads-de")
OTHER = owner_id("team", "leads-vip")
DE_ONLY = {"criteria": [{"field": "Country", "operator": "in", "values": ["DE"]}]}


def shared(**spec: Any) -> SyncSettings:
    return replace(settings(**spec), owner=ME, owner_tagged=True)


def claimed(m: Member, *owners: str) -> Member:
    return replace(m, tags=m.tags | set(owners))


def only(planner: Planner, *batches: list[Any]) -> list[tuple[ActionKind, str, Reason]]:
    return [(a.kind, a.email, a.reason) for batch in batches for a in batch]


def test_new_and_existing_members_carry_the_claim() -> None:
    s = shared()
    observed = {"b@x.io": member("b@x.io", "2", FNAME="B")}
    planner = Planner(s, observed, full=True)
    add, update = planner.plan_records(
        [record("1", "a@x.io"), record("2", "b@x.io", First_Name="B")]
    )
    assert add.kind == ActionKind.ADD and add.write is not None
    assert add.write.tags == {"crm", ME}
    assert update.kind == ActionKind.UPDATE and update.write is not None
    assert update.write.tags == {ME}


def test_left_criteria_keeps_a_member_another_sync_claims() -> None:
    s = shared(crm={"criteria": [{"field": "Country", "operator": "in", "values": ["DE"]}]})
    observed = {"a@x.io": claimed(member("a@x.io", "1"), ME, OTHER)}
    planner = Planner(s, observed, full=False)
    assert planner.plan_records([record("1", "a@x.io", Country="FR")]) == []
    assert only(planner, planner.finish()) == [(ActionKind.RELEASE, "a@x.io", Reason.LEFT_CRITERIA)]


def test_left_criteria_removes_a_member_only_this_sync_claims() -> None:
    s = shared(crm={"criteria": [{"field": "Country", "operator": "in", "values": ["DE"]}]})
    observed = {"a@x.io": claimed(member("a@x.io", "1"), ME)}
    planner = Planner(s, observed, full=False)
    planner.plan_records([record("1", "a@x.io", Country="FR")])
    assert only(planner, planner.finish()) == [(ActionKind.REMOVE, "a@x.io", Reason.LEFT_CRITERIA)]


def test_member_claimed_only_by_others_is_not_touched() -> None:
    """The data-loss case: the other sync's member, linked to a record outside this
    sync's criteria, was archived by this sync on every run."""
    s = shared(crm={"criteria": [{"field": "Country", "operator": "in", "values": ["DE"]}]})
    observed = {"a@x.io": claimed(member("a@x.io", "1"), OTHER)}
    planner = Planner(s, observed, full=True)
    planner.plan_records([record("1", "a@x.io", Country="FR")])
    assert planner.finish() == []


def test_crm_deletion_and_mirror_keep_what_others_claim() -> None:
    s = shared(syncMode="Mirror")
    observed = {
        "gone@x.io": claimed(member("gone@x.io", "9"), ME, OTHER),
        "theirs@x.io": claimed(member("theirs@x.io"), OTHER),
        "stray@x.io": member("stray@x.io"),
        "mine@x.io": claimed(member("mine@x.io", "8"), ME),
    }
    planner = Planner(s, observed, full=True)
    deletions = planner.plan_deletions([DeletedRecord("9", T0)])
    assert only(planner, deletions, planner.finish()) == [
        (ActionKind.RELEASE, "gone@x.io", Reason.CRM_DELETED),
        (ActionKind.REMOVE, "mine@x.io", Reason.CRM_DELETED),
        (ActionKind.REMOVE, "stray@x.io", Reason.NOT_IN_CRM),
    ]


def test_full_run_releases_claims_it_no_longer_backs() -> None:
    """Claimed but linked to another module's record (a Contacts sync sharing a member
    with this Leads sync), and no record of this sync holds it any more."""
    s = shared()
    observed = {"a@x.io": claimed(member("a@x.io", CRMID="Contacts:5"), ME, OTHER)}
    planner = Planner(s, observed, full=True)
    assert only(planner, planner.finish()) == [(ActionKind.RELEASE, "a@x.io", Reason.NOT_WANTED)]


def test_shared_member_keeps_the_other_modules_link() -> None:
    s = shared()
    observed = {"a@x.io": claimed(member("a@x.io", CRMID="Contacts:5", FNAME="A"), ME, OTHER)}
    planner = Planner(s, observed, full=False)
    (action,) = planner.plan_records([record("1", "a@x.io", First_Name="A")])
    # Not a duplicate of the Contacts record, and the link is left as it is: no update
    # ping-pong between the two syncs.
    assert (action.kind, action.reason) == (ActionKind.UNCHANGED, Reason.IN_SYNC)


def test_crm_opt_out_is_the_persons_choice_whoever_claims() -> None:
    s = shared(optOutPolicy={"crmOptOut": "Unsubscribe"})
    observed = {"a@x.io": claimed(member("a@x.io", "1"), ME, OTHER)}
    planner = Planner(s, observed, full=False)
    (action,) = planner.plan_records([record("1", "a@x.io", Email_Opt_Out=True)])
    assert action.kind == ActionKind.UNSUBSCRIBE


def test_unclaimed_members_keep_the_link_rule() -> None:
    """Members from before ownership (no claim tags): the linked sync decides, as before."""
    s = shared(crm={"criteria": [{"field": "Country", "operator": "in", "values": ["DE"]}]})
    observed = {"a@x.io": member("a@x.io", "1")}
    planner = Planner(s, observed, full=False)
    planner.plan_records([record("1", "a@x.io", Country="FR")])
    assert only(planner, planner.finish()) == [(ActionKind.REMOVE, "a@x.io", Reason.LEFT_CRITERIA)]


def test_a_member_this_sync_never_added_stays_when_its_record_is_outside_the_criteria() -> None:
    """Hand-added (no link, no claim) with the email of a record this sync does not take:
    not this sync's to archive. Once claimed, it leaves like any member of the sync."""
    s = shared(crm=DE_ONLY)
    outside = [record("1", "a@x.io", Country="FR")]
    planner = Planner(s, {"a@x.io": member("a@x.io")}, full=True)
    assert planner.plan_records(outside) == []
    assert planner.finish() == []
    planner = Planner(s, {"a@x.io": claimed(member("a@x.io"), ME)}, full=True)
    planner.plan_records(outside)
    assert only(planner, planner.finish()) == [(ActionKind.REMOVE, "a@x.io", Reason.LEFT_CRITERIA)]
    # Outside the operator (no claims to read) the email still decides, as before.
    planner = Planner(settings(crm=DE_ONLY), {"a@x.io": member("a@x.io")}, full=True)
    planner.plan_records(outside)
    assert only(planner, planner.finish()) == [(ActionKind.REMOVE, "a@x.io", Reason.LEFT_CRITERIA)]


def test_zoho_campaigns_claims_come_from_the_members() -> None:
    s = replace(settings(), owner=ME, owner_tagged=False)
    observed = {"a@x.io": replace(member("a@x.io", "1"), owners=frozenset({ME, OTHER}))}
    planner = Planner(s, observed, full=True)
    assert only(planner, planner.plan_deletions([DeletedRecord("1", T0)])) == [
        (ActionKind.RELEASE, "a@x.io", Reason.CRM_DELETED)
    ]


def test_owner_ids_fit_a_mailchimp_tag() -> None:
    assert owner_id("ns", "sync") == "crmsync:ns/sync"
    long = owner_id("n" * 63, "s" * 253)
    assert len(long) == MAX_TAG_LENGTH and long != owner_id("n" * 63, "s" * 252)
    assert owners_in_tags({"crm", long, "crmsync:a/b"}) == {long, "crmsync:a/b"}


def test_an_unclaimed_member_written_moments_ago_waits_for_its_claim() -> None:
    """Another sync's new member has no claim tag until the call after its batch write:
    meanwhile it is left alone, however it is linked."""
    s = shared(crm={"criteria": [{"field": "Country", "operator": "in", "values": ["DE"]}]})
    fresh = replace(member("a@x.io", "1"), last_changed=T0 - timedelta(minutes=1))
    planner = Planner(s, {"a@x.io": fresh}, full=True, now=T0)
    planner.plan_records([record("1", "a@x.io", Country="FR")])
    assert planner.finish() == []
    settled = replace(fresh, last_changed=T0 - timedelta(minutes=20))
    planner = Planner(s, {"a@x.io": settled}, full=True, now=T0)
    planner.plan_records([record("1", "a@x.io", Country="FR")])
    assert only(planner, planner.finish()) == [(ActionKind.REMOVE, "a@x.io", Reason.LEFT_CRITERIA)]
