"""CRM pages are read while the writes before them go out (issue 15.1), and the
checkpoint still moves only past records whose writes are confirmed, in order (B5)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crmsync.api.v1alpha1.status import Checkpoint
from crmsync.engine.records import CrmRecord, MemberWrite, WriteResult
from crmsync.providers.base import CriteriaRead
from crmsync.runtime import pending
from crmsync.runtime.counting import RunTally
from crmsync.runtime.sync import RunRequest, SyncRun
from tests.unit.test_plan import settings
from tests.unit.test_sync_crm_opt_outs import T0, FakeCrm, FakeTarget, rec

PAGES, PAGE = 8, 100


@dataclass
class PagedCrm(FakeCrm):
    events: list[str] = field(default_factory=list)

    async def records(
        self,
        module: str,
        fields: Sequence[str],
        *,
        modified_since: datetime | None = None,
        criteria: CriteriaRead | None = None,
    ) -> AsyncIterator[list[CrmRecord]]:
        ordered = list(self.records_.values())
        for start in range(0, len(ordered), PAGE):
            await asyncio.sleep(0.01)  # the page's round trip
            self.events.append(f"read {start // PAGE}")
            yield ordered[start : start + PAGE]


@dataclass
class SlowTarget(FakeTarget):
    events: list[str] = field(default_factory=list)

    async def upsert(self, audience: str, writes: Sequence[MemberWrite]) -> list[WriteResult]:
        self.events.append("write starts")
        await asyncio.sleep(0.05)
        results = await super().upsert(audience, writes)
        self.events.append("write ends")
        return results


def test_pages_are_read_while_writes_go_out_and_the_checkpoint_follows_the_writes() -> None:
    records = {str(i): rec(i, T0 + timedelta(seconds=i)) for i in range(1, PAGES * PAGE + 1)}
    events: list[str] = []
    crm = PagedCrm(records, events=events)
    target = SlowTarget([], max_batch=PAGE, events=events)
    written_at_report: list[tuple[int, int]] = []

    async def progress(tally: RunTally, checkpoint: Checkpoint) -> None:
        if checkpoint.resume is not None and not checkpoint.pending_writes:
            after = int(checkpoint.resume.after_record_id or 0)
            written_at_report.append((after, len(target.writes)))

    s = settings()
    request = RunRequest(s, "L1", Checkpoint(mapping_hash=s.mapping_hash), True)
    result = asyncio.run(SyncRun(crm, target, request, progress).execute())  # type: ignore[arg-type]

    assert [w.email for w in target.writes] == [f"p{i}@x.io" for i in records]
    counts = result.tally.as_counts()
    assert (counts.total, counts.failed) == (PAGES * PAGE, 0)
    # Several pages were read while one write was out (not only the one read ahead).
    most, during = 0, 0
    for event in events:
        if event == "write starts":
            during = 0
        elif event.startswith("read"):
            during += 1
            most = max(most, during)
    assert most >= 2, events
    # The checkpoint never passed a record whose member was not written yet, and moved on.
    assert written_at_report and all(after <= written for after, written in written_at_report)
    afters = [after for after, _ in written_at_report]
    assert afters == sorted(afters) and afters[-1] == PAGES * PAGE


@dataclass
class UnevenTarget(FakeTarget):
    """The batch of ``slow`` is answered long after the others."""

    slow: str = ""
    log: list[str] = field(default_factory=list)
    started: set[str] = field(default_factory=set)

    async def upsert(self, audience: str, writes: Sequence[MemberWrite]) -> list[WriteResult]:
        self.log.append(f"send {writes[0].email}")
        self.started.update(w.email for w in writes)
        await asyncio.sleep(0.3 if writes[0].email == self.slow else 0.01)
        self.log.append(f"answer {writes[0].email}")
        return await super().upsert(audience, writes)


def test_the_next_flush_goes_out_before_the_last_is_answered_and_counts_stay_in_order() -> None:
    records = {str(i): rec(i, T0 + timedelta(seconds=i)) for i in range(1, PAGES * PAGE + 1)}
    target = UnevenTarget([], max_batch=PAGE, slow="p201@x.io")
    snapshots: list[tuple[int, int, set[str]]] = []

    async def progress(tally: RunTally, checkpoint: Checkpoint) -> None:
        counted = tally.added + tally.updated
        done = checkpoint.last_full_sync_time is not None  # the run's last report
        after = int(checkpoint.resume.after_record_id) if checkpoint.resume else 0
        after = counted if done else after
        owed = {line.partition(":")[2] for line in checkpoint.pending_writes}
        snapshots.append((after, counted, owed))
        # B5: the counts are exactly those of the records up to the checkpoint, and every
        # member sent past it is saved as owed (a crash now counts it once).
        assert counted == after, (counted, after)
        sent_past = {e for e in target.started if int(e[1:].partition("@")[0]) > after}
        assert {pending.member_key(e) for e in sent_past} <= owed

    s = settings()
    request = RunRequest(s, "L1", Checkpoint(mapping_hash=s.mapping_hash), True, parallel_batches=4)
    crm = PagedCrm(records)
    result = asyncio.run(SyncRun(crm, target, request, progress).execute())  # type: ignore[arg-type]

    assert sorted(w.email for w in target.writes) == sorted(f"p{i}@x.io" for i in records)
    counts = result.tally.as_counts()
    assert (counts.total, counts.failed) == (PAGES * PAGE, 0)
    # Four batches out at once, in flushes of two: once the first flush (records 1–200)
    # is answered, the third goes out while the second waits for its slow batch; it is
    # still counted after the second.
    assert target.log.index("send p401@x.io") < target.log.index("answer p201@x.io"), target.log
    afters = [after for after, _, _ in snapshots]
    assert afters == sorted(afters) and afters[-1] == PAGES * PAGE
