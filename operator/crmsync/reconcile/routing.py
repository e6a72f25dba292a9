"""CRM notifications go to the syncs they concern, not to every sync on the module.

Zoho delivers each change of a module to every channel on it, so with a hundred syncs on
Contacts one edit woke a hundred runs. Now a delivery names its record ids; the operator
reads those records once for all syncs of the CRM Connection (one call, shared for a few
seconds by every sync that was notified too) and a sync runs only if a record

- takes part in it now (its criteria match), or
- is one it holds a member for (it may have left the criteria or changed its email), or
- could not be read (deleted, or a delivery without ids) and the sync may hold it.

What a sync holds is known once it completed a full comparison in this process (the record
ids that took part), kept up to date by every run after it; until then every notification
runs, as before.

An edited Account or a new or edited Deal (Z3: their mapped fields reach members
"instantly too") is delivered on the Connection's Contacts channel, to the syncs on it
that map their fields; an Account's Contacts are found through its related list, a Deal's
Contact is the one it names; they are routed like edited Contacts, and the run reads them
by id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from crmsync.engine.criteria import matches_all
from crmsync.engine.records import CrmRecord
from crmsync.engine.related import parent_source
from crmsync.engine.settings import SyncSettings
from crmsync.providers.base import CrmSource
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.webhook import UNKNOWN_IDS

SHARED_FOR_SECONDS = 10.0


@dataclass
class HeldRecords:
    """The record ids a sync holds members for, once known (None: not known yet)."""

    ids: set[str] | None = None

    def after_run(self, full: bool, taking_part: Iterable[str], left: Iterable[str]) -> None:
        if full:
            self.ids = set(taking_part)
        elif self.ids is not None:
            self.ids.update(taking_part)
            self.ids.difference_update(left)


def concerns(
    settings: SyncSettings,
    held: set[str] | None,
    notified: Iterable[str],
    records: Mapping[str, CrmRecord],
) -> bool:
    """Whether a notification naming ``notified`` needs a run of this sync."""
    if held is None:
        return True
    for record_id in notified:
        if record_id == UNKNOWN_IDS or record_id in held:
            return True
        record = records.get(record_id)
        if record is not None and matches_all(settings.criteria, record.values):
            return True
    return False


async def read_and_route(
    crm: CrmSource,
    connection: str,
    settings: SyncSettings,
    held: set[str],
    ids: Iterable[str],
) -> bool:
    """Whether changes of the records ``ids`` concern this sync (:func:`concerns`), their
    fields read once for every sync of the Connection asking meanwhile (:data:`READS`)."""
    changed = sorted(set(ids))
    if not held.isdisjoint(changed):
        return True  # no read needed
    fields = sorted({c.field for c in settings.criteria} | {settings.email_field})
    records = await READS.records(crm, connection, settings.module, changed, fields)
    return concerns(settings, held, changed, records)


async def children_of_edited_parents(
    crm: CrmSource, module: str, parents: Mapping[str, Iterable[str]]
) -> set[str]:
    """The ``module`` records linked to the related records notified as changed: an
    Account's Contacts from its related list, a Deal's Contact from the Deal."""
    if not isinstance(crm, ZohoCrm):
        return set()
    children: set[str] = set()
    for parent_module, ids in parents.items():
        source = parent_source(module, parent_module)
        parent_ids = sorted(set(ids))
        if source is None or not parent_ids:
            continue
        if source.back_link is None:
            children |= await crm.child_ids(source.module, parent_ids, module)
            continue
        for parent in await crm.records_by_id(source.module, parent_ids, [source.back_link]):
            link = parent.values.get(source.back_link)
            if isinstance(link, dict) and link.get("id"):
                children.add(str(link["id"]))
    return children


@dataclass
class _Read:
    at: float
    record: CrmRecord | None
    """None: not found (deleted, say)."""
    fields: frozenset[str]


@dataclass
class SharedReads:
    """Notified records read once per Connection and module, for every sync notified
    (again only for a sync that needs a field the first read did not ask for)."""

    _reads: dict[tuple[str, str, str], _Read] = field(default_factory=dict)
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    def _fresh(self, key: tuple[str, str, str], fields: frozenset[str]) -> _Read | None:
        read = self._reads.get(key)
        if read is None or time.monotonic() - read.at >= SHARED_FOR_SECONDS:
            return None
        return read if fields <= read.fields else None

    async def records(
        self,
        crm: CrmSource,
        connection: str,
        module: str,
        ids: Sequence[str],
        fields: Sequence[str],
    ) -> dict[str, CrmRecord]:
        wanted = frozenset(fields)
        notified = sorted(i for i in set(ids) if i != UNKNOWN_IDS)
        async with self._locks.setdefault((connection, module), asyncio.Lock()):
            stale = [i for i in notified if self._fresh((connection, module, i), wanted) is None]
            if stale:
                asked = set(wanted)
                for i in stale:
                    if (old := self._reads.get((connection, module, i))) is not None:
                        asked |= old.fields
                by_id = {r.id: r for r in await crm.records_by_id(module, stale, sorted(asked))}
                at = time.monotonic()
                for i in stale:
                    self._reads[(connection, module, i)] = _Read(at, by_id.get(i), frozenset(asked))
            found = {
                i: read.record
                for i in notified
                if (read := self._reads.get((connection, module, i))) is not None
                and read.record is not None
            }
            self._forget_old()
        return found

    def _forget_old(self) -> None:
        now = time.monotonic()
        for key in [k for k, r in self._reads.items() if now - r.at >= 2 * SHARED_FOR_SECONDS]:
            del self._reads[key]


READS = SharedReads()
