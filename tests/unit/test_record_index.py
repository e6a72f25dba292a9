"""The operator's record → email index for Zoho Campaigns, whose list listing cannot return
the ``CRM Record ID`` field: members get their link back, so CRM deletions (P5) and full
comparisons find them; the index only follows confirmed writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.engine.plan import Action, ActionKind, Planner, Reason
from crmsync.engine.records import (
    CrmRecord,
    DeletedRecord,
    Member,
    MemberStatus,
    WriteOutcome,
    WriteResult,
)
from crmsync.engine.settings import RECORD_ID_FIELD_ZOHO_CAMPAIGNS, SyncSettings
from crmsync.runtime.indexcodec import Shard, decode_shard, encode_shard
from crmsync.runtime.indexlayout import plan_writes
from crmsync.runtime.recordindex import RecordIndex

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LINK = RECORD_ID_FIELD_ZOHO_CAMPAIGNS


def campaigns_settings(**spec: Any) -> SyncSettings:
    body: dict[str, Any] = {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts"},
        "target": {"connectionRef": {"name": "zc"}, "listId": "L1"},
        **spec,
    }
    return SyncSettings.resolve(
        ContactSyncSpec.model_validate(body),
        mapping=None,
        policy=None,
        target_provider="zoho-campaigns",
    )


def listed(*emails: str) -> dict[str, Member]:
    """As ``getlistsubscribers`` gives them: no link field."""
    return {e: Member(email=e, status=MemberStatus.SUBSCRIBED, values={}) for e in emails}


def reload(index: RecordIndex) -> RecordIndex:
    """Through its ConfigMaps and back."""
    plan = plan_writes(index.entries, index.removed, index.changed, index.layout, 960_000)
    return RecordIndex.from_shards({n: decode_shard(n, data) for n, data in plan.writes})


def test_encoding_round_trips_and_is_compact() -> None:
    entries = {f"Contacts:57257670{i:011d}": f"p.{i}@example.com" for i in range(5000)}
    data = encode_shard(Shard(0, 1, entries))
    assert decode_shard(0, data).entries == entries
    assert data["entries"] == "5000"
    assert len(data["index.tsv.gz.b64"]) < 5000 * 10


def test_members_get_their_link_back_and_vanished_ones_are_dropped() -> None:
    index = RecordIndex({"Contacts:1": "a@x.com", "Contacts:2": "gone@x.com"})
    observed = index.annotate(listed("a@x.com", "b@x.com"), LINK)
    assert observed["a@x.com"].values == {LINK: "Contacts:1"}
    assert observed["b@x.com"].values == {}
    assert index.entries == {"Contacts:1": "a@x.com"} and index.dirty


def test_a_crm_deletion_reaches_the_member_through_the_index() -> None:
    """P5 on Zoho Campaigns: without the index the deletion finds no member."""
    s = campaigns_settings()
    deleted = [DeletedRecord("1", T0)]
    assert Planner(s, listed("a@x.com"), full=False).plan_deletions(deleted) == []
    observed = RecordIndex({"Contacts:1": "a@x.com"}).annotate(listed("a@x.com"), LINK)
    [action] = Planner(s, observed, full=False).plan_deletions(deleted)
    assert (action.kind, action.email, action.reason) == (
        ActionKind.REMOVE,
        "a@x.com",
        Reason.CRM_DELETED,
    )


def test_a_linked_member_is_in_sync_instead_of_rewritten_every_full_run() -> None:
    s = campaigns_settings()
    rec = CrmRecord("1", T0, {"Email": "a@x.com"})
    observed = RecordIndex({"Contacts:1": "a@x.com"}).annotate(listed("a@x.com"), LINK)
    [action] = Planner(s, observed, full=True).plan_records([rec])
    assert action.kind == ActionKind.UNCHANGED


def test_only_confirmed_writes_change_the_index() -> None:
    index = RecordIndex()
    add = Action(ActionKind.ADD, "a@x.com", Reason.NEW_RECORD, "1")
    index.note(add, WriteResult("a@x.com", WriteOutcome.REJECTED, "invalid_email"), "Contacts:1")
    assert index.entries == {} and not index.dirty
    index.note(add, WriteResult("a@x.com", WriteOutcome.CREATED), "Contacts:1")
    assert index.entries == {"Contacts:1": "a@x.com"} and index.dirty

    # The email changed: the key now links the new address; the old one's removal keeps it.
    moved = Action(ActionKind.UPDATE, "new@x.com", Reason.FIELDS_CHANGED, "1")
    index.note(moved, WriteResult("new@x.com", WriteOutcome.CREATED), "Contacts:1")
    left = Action(ActionKind.REMOVE, "a@x.com", Reason.FIELDS_CHANGED, "1")
    index.note(left, WriteResult("a@x.com", WriteOutcome.REMOVED), "Contacts:1")
    assert index.entries == {"Contacts:1": "new@x.com"}

    # Opt-out unsubscribes keep the link (still on the list); deletion drops it.
    optout = Action(ActionKind.UNSUBSCRIBE, "new@x.com", Reason.OPTED_OUT, "1")
    index.note(optout, WriteResult("new@x.com", WriteOutcome.UPDATED), "Contacts:1")
    assert index.entries == {"Contacts:1": "new@x.com"}
    gone = Action(ActionKind.UNSUBSCRIBE, "new@x.com", Reason.CRM_DELETED, "1")
    index.note(gone, WriteResult("new@x.com", WriteOutcome.UPDATED), "Contacts:1")
    assert index.entries == {}


def test_the_operators_own_removal_never_comes_back_as_a_crm_opt_out() -> None:
    """Z17 on Zoho Campaigns: a record that left the criteria was list-unsubscribed by the
    operator, just as a person unsubscribing would be. The index remembers that removal, so
    when the record takes part again its CRM opt-out is not set; the mark lasts until the
    member is active on the list again, and survives the ConfigMap round trip."""
    s = campaigns_settings()
    index = RecordIndex({"Contacts:1": "a@x.com", "Contacts:2": "b@x.com"})
    left = Action(ActionKind.REMOVE, "a@x.com", Reason.LEFT_CRITERIA, "1")
    index.note(left, WriteResult("a@x.com", WriteOutcome.REMOVED), "Contacts:1")
    assert index.removed == {"Contacts:1": "a@x.com"}
    index = reload(index)
    assert index.removed == {"Contacts:1": "a@x.com"}

    unsubscribed = {
        e: Member(email=e, status=MemberStatus.UNSUBSCRIBED, values={})
        for e in ("a@x.com", "b@x.com")
    }
    observed = index.annotate(unsubscribed, LINK)
    assert observed["a@x.com"].removed_by_sync and not observed["b@x.com"].removed_by_sync
    records = [CrmRecord("1", T0, {"Email": "a@x.com"}), CrmRecord("2", T0, {"Email": "b@x.com"})]
    actions = Planner(s, observed, full=True).plan_records(records)
    by_email = {a.email: a.kind for a in actions}
    assert by_email["b@x.com"] == ActionKind.CRM_OPT_OUT  # the person unsubscribed
    assert by_email["a@x.com"] != ActionKind.CRM_OPT_OUT  # the operator did

    # Active on the list again (the person re-subscribed): the mark is gone.
    index.annotate(listed("a@x.com", "b@x.com"), LINK)
    assert index.removed == {} and index.dirty
