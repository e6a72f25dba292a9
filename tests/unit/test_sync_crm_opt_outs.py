"""Executing the one-way flow's CRM opt-outs (Z17): batches of 100, counts, failures kept
for retry, the incremental pass over members changed since the checkpoint, dry runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crmsync.api.v1alpha1.status import Checkpoint
from crmsync.engine.plan import ActionKind
from crmsync.engine.records import (
    CrmRecord,
    DeletedRecord,
    Member,
    MemberStatus,
    MemberWrite,
    WriteOutcome,
    WriteResult,
)
from crmsync.engine.reverse import CampaignChange
from crmsync.providers.base import CriteriaRead
from crmsync.runtime.sync import RunRequest, RunResult, SyncRun
from tests.unit.test_plan import settings

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CHECKPOINT = T0 + timedelta(hours=1)


@dataclass
class FakeCrm:
    records_: dict[str, CrmRecord]
    reject: set[str] = field(default_factory=set)
    updates: list[list[dict[str, Any]]] = field(default_factory=list)
    read_by_id: list[list[str]] = field(default_factory=list)

    async def records(
        self,
        module: str,
        fields: Sequence[str],
        *,
        modified_since: datetime | None = None,
        criteria: CriteriaRead | None = None,
    ) -> AsyncIterator[list[CrmRecord]]:
        yield [
            r
            for r in self.records_.values()
            if modified_since is None or r.modified_time >= modified_since
        ]

    async def records_by_id(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[CrmRecord]:
        self.read_by_id.append(list(ids))
        return [self.records_[i] for i in ids if i in self.records_]

    async def deleted_since(self, module: str, since: datetime | None) -> list[DeletedRecord]:
        return []

    async def related_values(
        self, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, Mapping[str, Any]]:
        return {}

    async def update_records(
        self, module: str, updates: Sequence[Mapping[str, Any]]
    ) -> list[WriteResult]:
        self.updates.append([dict(u) for u in updates])
        return [
            WriteResult(
                "",
                WriteOutcome.REJECTED if u["id"] in self.reject else WriteOutcome.UPDATED,
                "invalid_data" if u["id"] in self.reject else "",
                record_id=str(u["id"]),
            )
            for u in updates
        ]


@dataclass
class FakeTarget:
    observed: list[Member]
    max_batch: int = 500
    writes: list[MemberWrite] = field(default_factory=list)

    async def members(
        self, audience: str, *, changed_since: datetime | None = None
    ) -> AsyncIterator[list[Member]]:
        yield self.observed

    async def upsert(self, audience: str, writes: Sequence[MemberWrite]) -> list[WriteResult]:
        self.writes.extend(writes)
        return [WriteResult(w.email, WriteOutcome.UPDATED) for w in writes]

    async def set_status(
        self, audience: str, emails: Sequence[str], status: MemberStatus
    ) -> list[WriteResult]:
        raise AssertionError("no status is ever sent here")

    async def remove(
        self, audience: str, emails: Sequence[str], *, permanent: bool
    ) -> list[WriteResult]:
        raise AssertionError("nothing is removed here")


def rec(i: int, modified: datetime = T0, **values: Any) -> CrmRecord:
    return CrmRecord(str(i), modified, {"Email": f"p{i}@x.io", **values})


def mem(i: int, status: MemberStatus, changed: datetime | None = None) -> Member:
    values = {"CRMID": f"Leads:{i}", "FNAME": "", "LNAME": ""}
    return Member(f"p{i}@x.io", status, values, frozenset({"crm"}), last_changed=changed)


def run(
    crm: FakeCrm, target: FakeTarget, *, full: bool, dry_run: bool = False, **spec: Any
) -> RunResult:
    s = settings(**spec)
    checkpoint = Checkpoint(
        modified_since=None if full else CHECKPOINT, mapping_hash=s.mapping_hash
    )
    request = RunRequest(s, "L1", checkpoint, full, dry_run=dry_run)
    return asyncio.run(SyncRun(crm, target, request).execute())  # type: ignore[arg-type]


def test_a_full_run_opts_out_in_batches_of_100_and_counts_failures_for_retry() -> None:
    records = {str(i): rec(i) for i in range(1, 251)}
    observed = [mem(i, MemberStatus.UNSUBSCRIBED if i % 2 else MemberStatus.CLEANED)
                for i in range(1, 251)]  # fmt: skip
    crm, target = FakeCrm(records, reject={"7"}), FakeTarget(observed)
    result = run(crm, target, full=True)
    assert [len(u) for u in crm.updates] == [100, 100, 50]
    assert crm.updates[0][0] == {"id": "1", "Email_Opt_Out": True}
    assert target.writes == []  # no field update, no status, for any of them
    counts = result.tally.as_counts()
    assert (counts.crm_opted_out, counts.crm_updated, counts.failed) == (249, 249, 1)
    assert counts.skipped_by_reason == {"invalid_data": 1}
    assert result.checkpoint.failed_record_ids == ["7"]
    assert result.campaign_changes is not None
    assert result.campaign_changes.changes == {
        CampaignChange.UNSUBSCRIBED: 124,  # odd ids but 7
        CampaignChange.CLEANED: 125,
    }


def test_an_incremental_run_reads_the_records_of_members_who_left_since_the_checkpoint() -> None:
    after, before = CHECKPOINT + timedelta(minutes=5), CHECKPOINT - timedelta(minutes=5)
    records = {
        "1": rec(1),  # unchanged in the CRM; its member unsubscribed after the checkpoint
        "2": rec(2, CHECKPOINT + timedelta(minutes=1)),  # changed in the CRM too: read once
        "3": rec(3),  # member left before the checkpoint: the next full run's
        "4": rec(4, Email_Opt_Out=True),  # already opted out: nothing
        "5": rec(5, First_Name="Changed"),  # not modified: no field update from this pass
    }
    observed = [
        mem(1, MemberStatus.UNSUBSCRIBED, after),
        mem(2, MemberStatus.CLEANED, after),
        mem(3, MemberStatus.UNSUBSCRIBED, before),
        mem(4, MemberStatus.UNSUBSCRIBED, after),
        Member("p5@x.io", MemberStatus.UNSUBSCRIBED, {"CRMID": "Leads:5"}, last_changed=after),
    ]
    crm, target = FakeCrm(records), FakeTarget(observed)
    result = run(crm, target, full=False)
    assert crm.read_by_id == [["1", "4", "5"]]
    assert sorted(u["id"] for batch in crm.updates for u in batch) == ["1", "2", "5"]
    assert result.tally.crm_opted_out == 3
    assert result.tally.unchanged == 0  # only the opt-outs of that pass are kept
    assert target.writes == []


def test_ignore_policy_writes_nothing_to_the_crm() -> None:
    records = {"1": rec(1), "2": rec(2)}
    observed = [
        mem(1, MemberStatus.UNSUBSCRIBED, CHECKPOINT),
        mem(2, MemberStatus.CLEANED, CHECKPOINT),
    ]
    policy = {"campaignUnsubscribe": "Ignore", "markCleanedInCrm": False}
    for full in (True, False):
        crm = FakeCrm(records)
        result = run(crm, FakeTarget(observed), full=full, optOutPolicy=policy)
        assert crm.updates == [] and crm.read_by_id == []
        assert result.tally.crm_opted_out == 0 and result.campaign_changes is None


def test_a_dry_run_lists_the_opt_outs_without_writing() -> None:
    crm = FakeCrm({"1": rec(1)})
    result = run(crm, FakeTarget([mem(1, MemberStatus.UNSUBSCRIBED)]), full=True, dry_run=True)
    assert [(a.kind, a.reason.value) for a in result.planned] == [
        (ActionKind.CRM_OPT_OUT, "campaign_unsubscribed")
    ]
    assert crm.updates == []
