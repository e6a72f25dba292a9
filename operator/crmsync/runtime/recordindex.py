"""Which CRM record each campaign member came from, kept by the operator for targets whose
member listing cannot return the link field.

Zoho Campaigns API v1.1 stores the ``CRM Record ID`` contact field (``listsubscribe``
writes it) but gives no documented way to read it back: ``getlistsubscribers`` returns
only ``contact_email``, ``firstname``, ``lastname``, ``companyname``, ``phone``,
``added_time`` and ``zuid``, and v1.1 has no per-contact details call
(https://www.zoho.com/campaigns/help/developers/get-list-subscribers.html). Without the
link the planner cannot find the member of a deleted CRM record (P5) nor, in a full
comparison, members whose record is gone. So the operator keeps the link itself: one
ConfigMap per ContactSync (``<name>-record-index``, owned by it, so it goes with it).

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
- **Compact and bounded.** ``Module:recordId<TAB>email`` lines, sorted, gzip-compressed,
  base64 in one data key. A ConfigMap holds at most 1 MiB (etcd's object limit); the
  encoding is refused above :data:`MAX_ENCODED_BYTES`, which holds about 37,000 members
  with varied addresses (≈ 25 bytes each, measured; ≈ 7 for regular ones). When the
  index is full the operator keeps the last one that fitted and says so (Event
  ``RecordIndexFull``): members added after that are synced normally, but a CRM deletion of
  their record is only noticed through their email (full comparisons still reconcile
  fields); raising the limit means sharding the index over several ConfigMaps.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from crmsync.engine.records import ACTIVE_STATUSES, Member, WriteOutcome, WriteResult

if TYPE_CHECKING:
    from crmsync.engine.plan import Action

DATA_KEY = "index.tsv.gz.b64"
REMOVED_MARK = "!"
"""Prefix of the lines of members the operator itself took off the list."""
MAX_ENCODED_BYTES = 960_000
"""Below the ConfigMap limit (1 MiB for all of its data), leaving room for metadata."""
OWN_REMOVALS = frozenset({"left_criteria", "converted_lead"})
"""Removals whose record may take part again later (a CRM deletion's record is gone)."""


class RecordIndexFullError(ValueError):
    """The encoded index would not fit in one ConfigMap."""


def configmap_name(sync_name: str) -> str:
    return f"{sync_name}-record-index"


@dataclass
class RecordIndex:
    """Record key (``Module:recordId``) → member email."""

    entries: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    """Record key → email of members the operator itself took off the list."""
    dirty: bool = False

    # -- encoding ------------------------------------------------------------------------

    @classmethod
    def decode(cls, data: Mapping[str, str]) -> RecordIndex:
        raw = data.get(DATA_KEY, "")
        if not raw:
            return cls()
        text = gzip.decompress(base64.b64decode(raw)).decode()
        entries: dict[str, str] = {}
        removed: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, email = line.partition("\t")
            if sep and key and email:
                if key.startswith(REMOVED_MARK):
                    removed[key[len(REMOVED_MARK) :]] = email
                else:
                    entries[key] = email
        return cls(entries, removed)

    def encode(self) -> dict[str, str]:
        text = "".join(f"{k}\t{e}\n" for k, e in sorted(self.entries.items()))
        text += "".join(f"{REMOVED_MARK}{k}\t{e}\n" for k, e in sorted(self.removed.items()))
        packed = base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0))
        if len(packed) > MAX_ENCODED_BYTES:
            raise RecordIndexFullError(
                f"{len(self.entries)} entries encode to {len(packed)} bytes, over "
                f"{MAX_ENCODED_BYTES}"
            )
        return {DATA_KEY: packed.decode(), "entries": str(len(self.entries))}

    # -- use -----------------------------------------------------------------------------

    def annotate(self, observed: dict[str, Member], link_field: str) -> dict[str, Member]:
        """Give members the link field the target's listing left out. Entries whose email
        is no longer on the list in any status are dropped (the member is gone)."""
        present = {k: e for k, e in self.entries.items() if e in observed}
        if len(present) != len(self.entries):
            self.entries, self.dirty = present, True
        # A removal mark lasts while the member stays off the list (not active again).
        marked = {
            k: e
            for k, e in self.removed.items()
            if e in observed and observed[e].status not in ACTIVE_STATUSES
        }
        if len(marked) != len(self.removed):
            self.removed, self.dirty = marked, True
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
            self.dirty = True
        elif leaves and current == action.email:
            # Only the link to this email: an email change links the key to the new one.
            del self.entries[key]
            self.dirty = True
        if kind == "remove" and action.reason in OWN_REMOVALS:
            self.removed[key] = action.email
            self.dirty = True
