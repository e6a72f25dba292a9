"""Which CRM record each campaign member came from, kept by the operator for targets whose
member listing cannot return the link field.

Zoho Campaigns API v1.1 stores the ``CRM Record ID`` contact field (``listsubscribe``
writes it) but gives no documented way to read it back: ``getlistsubscribers`` returns
only ``contact_email``, ``firstname``, ``lastname``, ``companyname``, ``phone``,
``added_time`` and ``zuid``, and v1.1 has no per-contact details call
(https://www.zoho.com/campaigns/help/developers/get-list-subscribers.html). Without the
link the planner cannot find the member of a deleted CRM record (P5) nor, in a full
comparison, members whose record is gone. So the operator keeps the link itself, in
ConfigMaps owned by the ContactSync (so they go with it): ``<name>-record-index``,
``<name>-record-index-1``, ... (:mod:`crmsync.reconcile.indexstore`).

- **Written only after confirmed writes.** An entry is added when the target answered an
  add/update for it, and dropped when the member left the list (CRM deletion, criteria,
  conversion, email change) or is no longer on the list at all. A crash that loses the
  last entries heals itself: the next full comparison sees the member without its link and
  writes it again (an update carrying only the link field).
- **The operator's own removals are remembered** (``!Module:recordId<TAB>email`` lines):
  a member it took off the list (a record that left the criteria, a converted lead) is
  list-unsubscribed exactly like a person who unsubscribed, and must not come back as a
  CRM opt-out (Z17) when its record takes part again. The mark goes once the member is
  active on the list again (or gone from it).
- **Sharded, so it grows with the list.** A ConfigMap holds at most 1 MiB (etcd's object
  limit), about 37,000 members with varied addresses (≈ 25 bytes each, measured; ≈ 7 for
  regular ones). Entries go to shards by a stable hash of their record key
  (:mod:`crmsync.runtime.indexcodec`); the shard count doubles (or more) when a shard
  would not fit (:mod:`crmsync.runtime.indexlayout`). A save writes only the shards whose
  keys changed, so a small run rewrites one small ConfigMap. The index of releases before
  sharding (one ConfigMap) reads as shard 0 of 1. Only beyond
  :data:`~crmsync.runtime.indexcodec.MAX_SHARDS` shards is the index full (Event
  ``RecordIndexFull``): the operator keeps the shards that fitted; members added after
  that are synced normally, but a CRM deletion of their record is only noticed through
  their email.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from crmsync.engine.records import ACTIVE_STATUSES, Member, WriteOutcome, WriteResult
from crmsync.runtime.indexcodec import Shard
from crmsync.runtime.indexlayout import Layout, layout_of, merge

if TYPE_CHECKING:
    from crmsync.engine.plan import Action

OWN_REMOVALS = frozenset({"left_criteria", "converted_lead"})
"""Removals whose record may take part again later (a CRM deletion's record is gone)."""


@dataclass
class RecordIndex:
    """Record key (``Module:recordId``) → member email."""

    entries: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    """Record key → email of members the operator itself took off the list."""
    layout: Layout = field(default_factory=Layout)
    changed: set[str] = field(default_factory=set)
    """Record keys whose entry or removal mark changed since the index was read."""

    @classmethod
    def from_shards(cls, read: Mapping[int, Shard], broken: Collection[int] = ()) -> RecordIndex:
        entries, removed = merge(read.values())
        return cls(entries, removed, layout_of(read, broken))

    @property
    def dirty(self) -> bool:
        return bool(self.changed or self.layout.stale())

    def annotate(
        self, observed: MutableMapping[str, Member], link_field: str
    ) -> MutableMapping[str, Member]:
        """Give members the link field the target's listing left out. Entries whose email
        is no longer on the list in any status are dropped (the member is gone)."""
        present = {k: e for k, e in self.entries.items() if e in observed}
        if len(present) != len(self.entries):
            self.changed.update(self.entries.keys() - present.keys())
            self.entries = present
        # A removal mark lasts while the member stays off the list (not active again).
        marked = {
            k: e
            for k, e in self.removed.items()
            if e in observed and observed[e].status not in ACTIVE_STATUSES
        }
        if len(marked) != len(self.removed):
            self.changed.update(self.removed.keys() - marked.keys())
            self.removed = marked
        for email in marked.values():
            observed[email] = replace(observed[email], removed_by_sync=True)
        for key, email in present.items():
            member = observed[email]
            if not member.values.get(link_field):
                observed[email] = replace(member, values={**member.values, link_field: key})
        return observed

    def note(self, action: Action, result: WriteResult, key: str) -> None:
        """Record what the target confirmed for one action (``key``: its record key)."""
        if result.outcome == WriteOutcome.REJECTED or not action.record_id or not action.email:
            return
        kind, current = str(action.kind), self.entries.get(key)
        leaves = kind in ("remove", "release") or (
            kind == "unsubscribe" and action.reason == "crm_deleted"
        )
        if kind in ("add", "update") and current != action.email:
            self.entries[key] = action.email
            self.changed.add(key)
        elif leaves and current == action.email:
            # Only the link to this email: an email change links the key to the new one.
            del self.entries[key]
            self.changed.add(key)
        if kind == "remove" and action.reason in OWN_REMOVALS:
            self.removed[key] = action.email
            self.changed.add(key)
