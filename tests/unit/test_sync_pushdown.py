"""A full run whose CRM read is narrowed by the criteria (issue 14.3) plans what a run
reading the whole module plans: members whose record left the criteria leave as such
(not as deleted), members of deleted records go as deletions, unlinked members held by a
record outside the criteria are judged as before."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crmsync.api.v1alpha1.status import Checkpoint
from crmsync.engine.criteria import matches_all
from crmsync.engine.records import (
    CrmRecord,
    DeletedRecord,
    Member,
    MemberStatus,
    MemberWrite,
    WriteOutcome,
    WriteResult,
    normalise_email,
)
from crmsync.engine.settings import SyncSettings
from crmsync.providers.base import CriteriaRead
from crmsync.runtime.sync import RunRequest, SyncRun
from tests.unit.test_plan import settings

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CRITERIA = [{"field": "Region", "operator": "equals", "values": ["EU"]}]


@dataclass
class NarrowingCrm:
    """A CRM whose full reads honour the criteria when ``narrow`` (as Zoho's COQL would)."""

    records_: dict[str, CrmRecord]
    narrow: bool
    read_by_id: list[list[str]] = field(default_factory=list)
    read_by_email: list[list[str]] = field(default_factory=list)

    async def records(
        self,
        module: str,
        fields: Sequence[str],
        *,
        modified_since: datetime | None = None,
        criteria: CriteriaRead | None = None,
    ) -> AsyncIterator[list[CrmRecord]]:
        rows = list(self.records_.values())
        if self.narrow and criteria is not None and criteria.criteria:
            criteria.narrowed = True
            rows = [r for r in rows if matches_all(criteria.criteria, r.values)]
        yield rows

    async def records_by_id(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[CrmRecord]:
        self.read_by_id.append(list(ids))
        return [self.records_[i] for i in ids if i in self.records_]

    async def records_by_email(
        self, module: str, email_field: str, emails: Sequence[str], fields: Sequence[str]
    ) -> list[CrmRecord]:
        self.read_by_email.append(list(emails))
        keys = {normalise_email(e) for e in emails}
        return [r for r in self.records_.values() if normalise_email(r.values["Email"]) in keys]

    async def deleted_since(self, module: str, since: datetime | None) -> list[DeletedRecord]:
        return []

    async def related_values(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, Mapping[str, Any]]:
        return {}


@dataclass
class Audience:
    observed: list[Member]
    max_batch: int = 500

    async def members(
        self, audience: str, *, changed_since: datetime | None = None
    ) -> AsyncIterator[list[Member]]:
        yield self.observed

    async def upsert(self, audience: str, writes: Sequence[MemberWrite]) -> list[WriteResult]:
        return [WriteResult(w.email, WriteOutcome.UPDATED) for w in writes]


def rec(i: int, region: str, email: str = "") -> CrmRecord:
    values = {"Email": email or f"p{i}@x.io", "Region": region, "Last_Name": f"L{i}"}
    return CrmRecord(str(i), T0 + timedelta(seconds=i), values)


def mem(email: str, link: str, owners: frozenset[str] = frozenset()) -> Member:
    values = {"CRMID": link, "FNAME": "", "LNAME": ""}
    return Member(email, MemberStatus.SUBSCRIBED, values, frozenset({"crm"}), owners=owners)


RECORDS = {
    r.id: r
    for r in [
        rec(1, "EU"),  # in, member linked
        rec(2, "US"),  # left the criteria, member linked
        rec(3, "EU"),  # in, no member yet
        rec(4, "US", "hand@x.io"),  # outside; an unlinked member has its email
        rec(5, "us", "moved@x.io"),  # outside, and its email changed: old member linked
        rec(6, "eu"),  # in (case-insensitive)
    ]
}
MEMBERS = [
    mem("p1@x.io", "Contacts:1"),
    mem("p2@x.io", "Contacts:2"),
    mem("hand@x.io", ""),
    mem("old5@x.io", "Contacts:5"),
    mem("p9@x.io", "Contacts:9"),  # its record is deleted
    mem("other@x.io", "", frozenset({"ns/other"})),  # another sync's, unlinked
    mem("stranger@x.io", ""),  # nobody's, no record
]


def plan(
    narrow: bool, crm_settings: SyncSettings
) -> tuple[list[tuple[str, str, str]], NarrowingCrm]:
    crm = NarrowingCrm(RECORDS, narrow)
    request = RunRequest(crm_settings, "L1", Checkpoint(mapping_hash=crm_settings.mapping_hash),
                         True, dry_run=True)  # fmt: skip
    result = asyncio.run(SyncRun(crm, Audience(MEMBERS), request).execute())  # type: ignore[arg-type]
    return sorted((a.kind.value, a.email, a.reason.value) for a in result.planned), crm


@pytest.mark.parametrize("on_delete", ["Keep", "Archive", "Unsubscribe"])
@pytest.mark.parametrize("mode", ["Upsert", "Mirror"])
@pytest.mark.parametrize("owner", ["", "ns/this"])
def test_a_narrowed_read_plans_what_the_whole_read_plans(
    on_delete: str, mode: str, owner: str
) -> None:
    s = settings(
        crm={"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": CRITERIA},
        onCrmDelete=on_delete,
        syncMode=mode,
    )
    s = dataclasses.replace(s, owner=owner)
    whole, _ = plan(False, s)
    narrowed, crm = plan(True, s)
    assert narrowed == whole
    assert ("remove", "p2@x.io", "left_criteria") in whole or owner
    assert [sorted(ids) for ids in crm.read_by_id] == [
        ["2", "5", "9"]
    ]  # linked, unread: left, email changed, deleted
    assert crm.read_by_email and "hand@x.io" in crm.read_by_email[0]


def test_without_criteria_or_narrowing_nothing_more_is_read() -> None:
    s = settings(crm={"connectionRef": {"name": "crm"}, "module": "Contacts"})
    _, crm = plan(True, s)
    assert crm.read_by_id == [] and crm.read_by_email == []
    s = settings(crm={"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": CRITERIA})
    _, crm = plan(False, s)
    assert crm.read_by_id == [] and crm.read_by_email == []
