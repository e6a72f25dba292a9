"""One sync run: read the audience, stream the CRM through the planner, execute the
actions in full vendor-sized batches (held across CRM pages, see
:mod:`crmsync.runtime.batching`), and return counts and the next checkpoint.

The checkpoint only moves after the target confirmed a chunk's writes, and never past
the run's start (records modified while the run reads are read again next time), so a
crash or restart repeats a little work (idempotent upserts keyed by email) and loses none.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    MutableMapping,
    Sequence,
)
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from crmsync.api.v1alpha1.fieldmapping import RelatedRecord
from crmsync.api.v1alpha1.status import MAX_FAILED_RECORD_IDS, Checkpoint, ResumePoint
from crmsync.engine.plan import Action, ActionKind, Planner, Reason
from crmsync.engine.records import (
    CrmRecord,
    DeletedRecord,
    Member,
    MemberStatus,
    WriteOutcome,
    WriteResult,
)
from crmsync.engine.related import RelatedSource, related_source
from crmsync.engine.reverse import CampaignChange, ReverseTally
from crmsync.engine.settings import SyncSettings
from crmsync.providers.base import AudienceTarget, CriteriaRead, CrmSource
from crmsync.runtime import pending
from crmsync.runtime.batching import PendingPages
from crmsync.runtime.counting import RunTally
from crmsync.runtime.recordindex import RecordIndex
from crmsync.runtime.smallrun import CREATED_FIELD, SMALL_RUN_RECORDS, observe_incremental, prefetch
from crmsync.runtime.spill import SpillingMemory

T = TypeVar("T")
ProgressCallback = Callable[[RunTally, Checkpoint], Awaitable[None]]


@dataclass(frozen=True)
class RunRequest:
    settings: SyncSettings
    audience: str
    checkpoint: Checkpoint
    full: bool
    batch_size: int | None = None
    dry_run: bool = False
    run_id: str = ""
    resume_from: ResumePoint | None = None
    """A full run that was interrupted: records up to its point are not counted again."""
    retry_ids: tuple[str, ...] = ()
    """Records rejected by earlier runs: an incremental run reads them again by id."""
    parent_changed_ids: tuple[str, ...] = ()
    """Records whose Account was edited (Z3): unchanged themselves, so an incremental run
    reads them by id beside the records changed since the checkpoint."""
    record_index: RecordIndex | None = None
    """Targets whose listing omits the record link field (Zoho Campaigns): the operator's
    own record → email index; read to link members, updated with confirmed writes."""
    parallel_batches: int = 1
    """Vendor batches written at once (each flush holds this many): the Connection's
    in-flight budget lets several go together; 1 writes them one after the other."""
    small_runs: bool = True
    """Incremental runs read only the members their changes concern (False: the whole
    audience every run, as before; ``bench/incremental_runs.py`` compares the two)."""
    other_owners: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Zoho Campaigns: email → the other syncs on the same list that claim the member
    (their record indexes); Mailchimp members carry their claims as tags."""
    spill_after: int | None = None
    """Entries the run's audience and per-record sets hold in memory before they move to
    disk (:mod:`crmsync.runtime.spill`; None: its ``SPILL_AFTER``)."""


@dataclass(frozen=True)
class PageMark:
    """The checkpoint as it may be once a CRM record's write is confirmed."""

    modified_since: datetime | None = None
    resume_after: tuple[datetime, str] | None = None
    """A full run: (modified time, id) of the record; everything up to it is written."""


@dataclass
class RunResult:
    tally: RunTally
    checkpoint: Checkpoint
    members: int
    planned: list[Action] = field(default_factory=list)
    """Dry runs only: every action, in order."""
    reverse: ReverseTally | None = None
    """What the campaign → CRM half did (two-way and campaign → CRM syncs)."""
    full: bool = False
    """Every CRM record was read (a full comparison)."""
    taking_part: Iterable[str] = field(default_factory=set)
    """Ids of the CRM records that took part in this run (notification routing); a large
    run's are read from its store on disk when iterated."""
    left: Iterable[str] = field(default_factory=set)
    """Ids of the records whose member this run removed or released."""
    campaign_changes: ReverseTally | None = None
    """One-way CRM → campaign syncs: the campaign-side unsubscribes and cleaned addresses
    this run carried to the CRM (``changes`` and ``examples`` only; counts are in ``tally``)."""


WRITE_KINDS = pending.WRITE_KINDS
BATCHED_KINDS = frozenset({ActionKind.ADD, ActionKind.UPDATE})
"""Member writes: sent in vendor batches, several at once."""
FLUSHES_IN_FLIGHT = 2
"""Flushes a run's CRM stream has out at once: the next one's batches go out as the last
one's are answered (each batch waiting for a free slot of the Connection's budget), not
once the slowest of them is; counts and checkpoint still move one flush after the other."""
CRM_WRITES_PER_CALL = 100
"""Zoho CRM updates at most 100 records a call."""
MAX_UNLINKED_LOOKUPS = 1000
"""A full read narrowed by the criteria looks up the records of the audience's unlinked
members by email afterwards; past this many it reads the whole module instead."""
NOTIFICATION_EXAMPLES = 5
"""Emails kept per kind of campaign-side change, for the notification events."""


def _id_key(record_id: str) -> tuple[int, str]:
    """Zoho ids are numbers: compare them as numbers (same order as the CRM's keyset)."""
    return (len(record_id), record_id)


def _unanswered(email: str, who: str) -> WriteResult:
    """An action the answer did not mention: counted as failed (and retried)."""
    return WriteResult(
        email, WriteOutcome.REJECTED, "no_result", f"the {who}'s answer did not mention it"
    )


async def read_ahead(pages: AsyncIterator[T]) -> AsyncIterator[T]:
    """The pages of ``pages``, the next one always being read while the caller works."""
    source = aiter(pages)
    upcoming: asyncio.Future[T | None] = asyncio.ensure_future(anext(source, None))
    try:
        while (page := await upcoming) is not None:
            upcoming = asyncio.ensure_future(anext(source, None))
            yield page
    finally:
        if not upcoming.done():
            upcoming.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await upcoming


async def all_of(work: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run together; the first failure cancels the rest and is raised as it is."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _chain(
    read: list[list[CrmRecord]], rest: AsyncIterator[list[CrmRecord]]
) -> AsyncIterator[list[CrmRecord]]:
    for page in read:
        yield page
    async for page in rest:
        yield page


def _chunks(items: Sequence[Action], size: int) -> Iterable[Sequence[Action]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


YIELD_EVERY = 25
"""Records planned between two turns given to other tasks (the read ahead, the writes)."""


class SyncRun:
    """Carries one RunRequest out against a CRM source and an audience target."""

    def __init__(
        self,
        crm: CrmSource,
        target: AudienceTarget,
        request: RunRequest,
        on_progress: ProgressCallback | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.crm = crm
        self.target = target
        self.request = request
        self.on_progress = on_progress
        self.now = now
        self.tally = RunTally()
        self.planned: list[Action] = []
        self.members = 0
        self.memory = SpillingMemory(request.spill_after)
        self.failed_ids: dict[str, None] = {}
        """The first ones, in order: the checkpoint keeps no more."""
        self.started = now()
        self.campaign_changes = ReverseTally()
        self.left_ids = self.memory.keys("left")
        self.recovering = pending.decode(request.checkpoint.pending_writes)
        """Writes an interrupted run sent without recording the answer: counted once here."""
        self.after_stream: tuple[RunTally, dict[str, ActionKind]] | None = None
        """Once the CRM stream is written: its counts, and the writes sent since."""
        self.sending: dict[str, ActionKind] = {}
        """Writes of the stream's flushes that are out and not counted yet (saved as owed)."""
        self._turn = asyncio.Lock()
        """Held while a flush saves what it sends or records what came back: the counts
        and checkpoint saved are always those of whole flushes, in order."""

    @property
    def batch_size(self) -> int:
        wanted = self.request.batch_size or self.target.max_batch
        return max(1, min(wanted, self.target.max_batch))

    async def _list_members(self) -> MutableMapping[str, Member]:
        return await self.observe()

    async def observe(self) -> MutableMapping[str, Member]:
        settings = self.request.settings
        observed: MutableMapping[str, Member] = self.memory.members(settings.record_id_field)
        archived = self.memory.keys("archived")
        async for page in self.target.members(self.request.audience):
            for member in page:
                observed[member.email] = member
                if member.status == MemberStatus.ARCHIVED:
                    archived.add(member.email)
                else:
                    archived.discard(member.email)
        # Counted without reading the audience again (archived members are few).
        self.members = len(observed) - len(archived)
        index = self.request.record_index
        if index is not None:
            observed = index.annotate(observed, settings.record_id_field)
            if settings.owner:
                own = set(index.entries.values())
                others = self.request.other_owners
                for email in own | others.keys():
                    listed = observed.get(email)
                    if listed is None:
                        continue
                    owners = others.get(email, frozenset())
                    if email in own:
                        owners |= {settings.owner}
                    observed[email] = replace(listed, owners=owners)
        return observed

    async def execute(self) -> RunResult:
        request, settings = self.request, self.request.settings
        resume = request.resume_from if request.full else None
        # A resumed run keeps the interrupted run's start: the checkpoint it writes must
        # not pass anything that run did not read.
        started = resume.start_time if resume is not None else self.now()
        self.started = started
        backfill = request.checkpoint.mapping_hash not in ("", settings.mapping_hash)
        full = request.full or backfill or request.checkpoint.modified_since is None
        modified_since = None if full else request.checkpoint.modified_since
        fields = settings.record_fields
        if modified_since is not None and CREATED_FIELD not in fields:
            fields = [*fields, CREATED_FIELD]
        narrowing = CriteriaRead(settings.criteria) if full and settings.criteria else None
        source = self.crm.records(
            settings.module, fields, modified_since=modified_since, criteria=narrowing
        )
        observed, read, deleted = await self._observe_run(source, modified_since)
        planner = Planner(
            settings, observed, full=full, now=self.now(), backfill=backfill, memory=self.memory
        )
        if narrowing is not None and len(planner.unread_links()[1]) > MAX_UNLINKED_LOOKUPS:
            narrowing.criteria = ()  # before the read starts: it reads the whole module
        checkpoint = request.checkpoint.model_copy()

        await self._stream(
            _chain(read, source), planner, checkpoint, full=full, resume=resume, started=started
        )

        narrowed = narrowing is not None and narrowing.narrowed
        await self._after_stream(planner, checkpoint, full=full, deleted=deleted, narrowed=narrowed)

        checkpoint.modified_since = started if full else (checkpoint.modified_since or started)
        checkpoint.deleted_since = started
        checkpoint.mapping_hash = settings.mapping_hash
        if full:
            checkpoint.last_full_sync_time = started
        checkpoint.resume = None
        checkpoint.failed_record_ids = list(self.failed_ids)
        if not request.dry_run:
            await self._report(checkpoint)
        return RunResult(
            self.tally,
            checkpoint,
            self.members,
            self.planned,
            campaign_changes=self.campaign_changes if self.campaign_changes.changes else None,
            full=full,
            taking_part=planner.taking_part(),
            left=self.left_ids,
        )

    async def _stream(
        self,
        pages: AsyncIterator[list[CrmRecord]],
        planner: Planner,
        checkpoint: Checkpoint,
        *,
        full: bool,
        resume: ResumePoint | None,
        started: datetime,
    ) -> None:
        """Plan the CRM pages and write what they need. Pages are read and planned while
        the writes before them go out: up to FLUSHES_IN_FLIGHT flushes (counts and
        checkpoint move in order), and reading waits only when the next batches are ready
        before the oldest flush out is written."""
        # The flushes out together write parallel_batches batches at once.
        batches = -(-max(1, self.request.parallel_batches) // FLUSHES_IN_FLIGHT)
        held: PendingPages[PageMark] = PendingPages(self.batch_size * batches)
        read_since = checkpoint.modified_since
        writing: list[asyncio.Future[None]] = []
        try:
            async for page in read_ahead(pages):
                for number, record in enumerate(await self._with_related(page), 1):
                    if number % YIELD_EVERY == 0:
                        # Lets the next page's request (read_ahead) go out while this one
                        # is planned, rather than once the whole page is.
                        await asyncio.sleep(0)
                    # Each record leaves its mark: a checkpoint never passes a record whose
                    # write is still held, and counts and checkpoint stay in step (B5).
                    mark = PageMark()
                    if not full:
                        # Never past the run's start: a record edited during the run is
                        # read again.
                        read_since = min(
                            max(record.modified_time, read_since or record.modified_time),
                            started,
                        )
                        mark = PageMark(modified_since=read_since)
                    elif not self.request.dry_run:
                        mark = PageMark(resume_after=(record.modified_time, record.id))
                    held.add(self._plan_page(planner, [record], resume), mark)
                await self._hand_over(held, writing, checkpoint)
            while writing:
                await writing.pop(0)
        finally:
            for out in writing:
                out.cancel()
            await asyncio.gather(*writing, return_exceptions=True)
        await self._flush(*held.rest(), checkpoint)

    async def _hand_over(
        self,
        held: PendingPages[PageMark],
        writing: list[asyncio.Future[None]],
        checkpoint: Checkpoint,
    ) -> None:
        """Start a flush of what fills whole batches, if any, once a flush slot is free
        (``writing``: the flushes out, oldest first, updated here)."""
        while writing and writing[0].done():
            await writing.pop(0)  # raises what failed it
        if writing and not held.writes_ready():
            return
        if len(writing) >= FLUSHES_IN_FLIGHT:
            await writing.pop(0)
        actions, confirmed = held.ready()
        if actions:
            after = writing[-1] if writing else None
            flush = self._flush(actions, confirmed, checkpoint, after=after)
            writing.append(asyncio.ensure_future(flush))
        elif not writing:
            await self._flush(actions, confirmed, checkpoint)

    async def _observe_run(
        self, source: AsyncIterator[list[CrmRecord]], modified_since: datetime | None
    ) -> tuple[Mapping[str, Member], list[list[CrmRecord]], list[DeletedRecord] | None]:
        """The members the run plans against; incremental runs read the CRM first
        (:mod:`crmsync.runtime.smallrun`): the records read and deletions come back too."""
        request, settings = self.request, self.request.settings
        if modified_since is None:
            return await self._list_members(), [], None
        read, complete = await prefetch(source, SMALL_RUN_RECORDS)
        already = {r.id for page in read for r in page}
        parent_changed = [i for i in request.parent_changed_ids if i not in already]
        if parent_changed:
            fields = list(dict.fromkeys([*settings.record_fields, CREATED_FIELD]))
            read = [await self.crm.records_by_id(settings.module, parent_changed, fields), *read]
            complete = complete and sum(len(page) for page in read) <= SMALL_RUN_RECORDS
        deleted = await self.crm.deleted_since(settings.module, request.checkpoint.deleted_since)
        seen = await observe_incremental(
            self.target,
            request.audience,
            settings,
            read,
            complete=complete,
            since=modified_since,
            needs_listing=bool(deleted or request.retry_ids) or not request.small_runs,
            list_all=self._list_members,
        )
        if not seen.listed:
            self.members = -1  # not read: status keeps the last full count
        return seen.observed, read, deleted

    async def _after_stream(
        self,
        planner: Planner,
        checkpoint: Checkpoint,
        *,
        full: bool,
        deleted: list[DeletedRecord] | None,
        narrowed: bool = False,
    ) -> None:
        """Retries, Z17 opt-outs, deletions and what left: after every CRM page."""
        request, settings = self.request, self.request.settings
        retry = [i for i in request.retry_ids if not planner.seen(i)]
        self.after_stream = (deepcopy(self.tally), {})
        if narrowed:
            await self._read_unread_links(planner, checkpoint)
        if retry and not full:
            records = await self._with_related(
                await self.crm.records_by_id(settings.module, retry, settings.record_fields)
            )
            await self._sent_then_apply(planner.plan_records(records), checkpoint)
        since = request.checkpoint.modified_since
        if not full and since is not None:
            await self._campaign_opt_outs(planner, since, checkpoint)
        if deleted is None:
            deleted = await self.crm.deleted_since(
                settings.module, request.checkpoint.deleted_since
            )
        await self._sent_then_apply(planner.plan_deletions(deleted), checkpoint)
        await self._sent_then_apply(planner.finish(), checkpoint)
        for kind in self.recovering.values():
            self.tally.count_sent(kind)  # not met again (a removal: the member is gone)
        self.recovering.clear()
        checkpoint.pending_writes = []

    async def _read_unread_links(self, planner: Planner, checkpoint: Checkpoint) -> None:
        """A read narrowed by the criteria left out the records outside them: those linked
        to members, or holding unlinked members' emails, are read and planned as a whole
        read would have planned them (outside the criteria they leave; missing, deleted)."""
        settings = self.request.settings
        ids, emails = planner.unread_links()
        fields = settings.record_fields
        records = await self.crm.records_by_id(settings.module, ids, fields) if ids else []
        if emails:
            found = await self.crm.records_by_email(
                settings.module, settings.email_field, emails, fields
            )
            records += [r for r in found if not planner.seen(r.id)]
        records = await self._with_related(records)
        await self._sent_then_apply(planner.plan_records(records), checkpoint)

    async def _campaign_opt_outs(
        self, planner: Planner, since: datetime, checkpoint: Checkpoint
    ) -> None:
        """Incremental runs (Z17): records unchanged in the CRM whose member unsubscribed
        or was cleaned since the checkpoint are read and planned too; only their CRM
        opt-outs are kept (everything else about them waits for the next full run, as
        for any record the CRM did not change)."""
        settings = self.request.settings
        ids = [i for i in planner.campaign_opt_out_candidates(since) if not planner.seen(i)]
        if not ids:
            return
        records = await self.crm.records_by_id(settings.module, ids, settings.record_fields)
        planned = planner.plan_records(records)
        await self._sent_then_apply(
            [a for a in planned if a.kind == ActionKind.CRM_OPT_OUT], checkpoint
        )

    async def _flush(
        self,
        actions: list[Action],
        mark: PageMark | None,
        checkpoint: Checkpoint,
        *,
        after: asyncio.Future[None] | None = None,
    ) -> None:
        """Write what is ready; the checkpoint then moves to the last record written:
        everything up to it is confirmed (B5).

        The member batches go out as soon as what they send is saved as owed; with the
        flush ``after`` still out, their answers wait for it to be recorded, so counts
        and checkpoint move flush by flush, in order."""
        batched, rest = [], actions
        if not self.request.dry_run:  # a dry run plans them all, in order
            batched = [a for a in actions if a.kind in BATCHED_KINDS]
            rest = [a for a in actions if a.kind not in BATCHED_KINDS]
        async with self._turn:
            writes = await self._save_owed(actions, checkpoint)
            self.sending.update(writes)
        answered = await self._send(batched)
        if after is not None:
            await after
        async with self._turn:
            for chunk, results in answered:
                self._count(chunk, results)
            await self._apply(rest)
            for key in writes:
                self.sending.pop(key, None)
            self._move(checkpoint, mark)
            await self._report(checkpoint)

    async def _save_owed(
        self, actions: list[Action], checkpoint: Checkpoint
    ) -> dict[str, ActionKind]:
        """Save the writes among ``actions`` as owed, beside those still out, with the
        counts and checkpoint true right now, before they are sent: a crash in between is
        counted right (:mod:`.pending`). The writes are returned."""
        writes = pending.writes_of(actions, self.recovering)
        if writes and not self.request.dry_run and self.on_progress is not None:
            tally, owed = self.tally, {**self.sending, **writes}
            if self.after_stream is not None:
                # After the stream the checkpoint stays where the stream left it: the counts
                # saved are the stream's, and every write since is owed.
                tally, owed = self.after_stream
                owed.update(writes)
            saved = pending.encode({**self.recovering, **owed})
            await self.on_progress(tally, checkpoint.model_copy(update={"pending_writes": saved}))
        return writes

    async def _send(
        self, batched: list[Action]
    ) -> list[tuple[Sequence[Action], list[WriteResult]]]:
        """Member writes in vendor batches, all at once (the Connection's budget paces
        them); each batch with its answer, counted by the caller."""
        audience = self.request.audience

        async def write(chunk: Sequence[Action]) -> tuple[Sequence[Action], list[WriteResult]]:
            writes = [a.write for a in chunk if a.write is not None]
            return chunk, list(await self.target.upsert(audience, writes))

        return await all_of([write(chunk) for chunk in _chunks(batched, self.batch_size)])

    def _move(self, checkpoint: Checkpoint, mark: PageMark | None) -> None:
        """The checkpoint once everything up to ``mark`` is recorded."""
        if mark is not None:
            if mark.modified_since is not None:
                checkpoint.modified_since = mark.modified_since
            if mark.resume_after is not None:
                request, resume = self.request, self.request.resume_from
                checkpoint.resume = ResumePoint(
                    run_id=request.run_id or (resume.run_id if resume else "run"),
                    start_time=self.started,
                    after_modified_time=mark.resume_after[0],
                    after_record_id=mark.resume_after[1],
                    resumed=resume.resumed if resume else 0,
                )
        checkpoint.pending_writes = pending.encode({**self.recovering, **self.sending})

    async def _sent_then_apply(self, actions: list[Action], checkpoint: Checkpoint) -> None:
        """Save what is about to be written, then write it (:meth:`_save_owed`)."""
        await self._save_owed(actions, checkpoint)
        await self._apply(actions)

    def _plan_page(
        self, planner: Planner, records: list[CrmRecord], resume: ResumePoint | None
    ) -> list[Action]:
        """Plan a page. Resuming, records the interrupted run already confirmed are planned
        too (the claims on emails must be the same as in one uninterrupted pass) but only
        their still-needed writes are kept; what they counted stays counted."""
        if resume is None or resume.after_modified_time is None:
            return planner.plan_records(records)
        point = (resume.after_modified_time, _id_key(resume.after_record_id))
        actions: list[Action] = []
        for record in records:
            planned = planner.plan_records([record])
            if (record.modified_time, _id_key(record.id)) <= point:
                planned = [a for a in planned if a.kind in WRITE_KINDS]
            actions.extend(planned)
        return actions

    async def _report(self, checkpoint: Checkpoint) -> None:
        if self.on_progress is not None and not self.request.dry_run:
            await self.on_progress(self.tally, checkpoint)

    async def _with_related(self, page: list[CrmRecord]) -> list[CrmRecord]:
        """Attach the mapped fields of each record's Account/Deal (Z3), one call per chunk."""
        settings = self.request.settings
        for related in (RelatedRecord.ACCOUNT, RelatedRecord.DEAL):
            fields = settings.related_fields(related)
            source = related_source(settings.module, related)
            if not fields or source is None:
                continue
            values = await self._related_values(source, page, fields)
            page = [
                replace(r, related={**r.related, str(related): values.get(r.id, {})}) for r in page
            ]
        return page

    async def _related_values(
        self, source: RelatedSource, page: list[CrmRecord], fields: list[str]
    ) -> dict[str, Mapping[str, Any]]:
        """Record id → the values of its related record (none: no entry)."""
        if source.back_link is not None:
            return await self.crm.newest_linked(
                source.module, source.back_link, [r.id for r in page], fields
            )
        lookup = source.lookup_field or ""
        linked = {
            r.id: str(value["id"])
            for r in page
            if isinstance(value := r.values.get(lookup), dict) and value.get("id")
        }
        if not linked:
            return {}
        values = await self.crm.related_values(source.module, sorted(set(linked.values())), fields)
        return {record_id: values[i] for record_id, i in linked.items() if i in values}

    async def _apply(self, actions: list[Action]) -> None:
        if self.request.dry_run:
            self.planned.extend(actions)
            for action in actions:
                self.tally.count_planned(action)
            return
        await self._apply_to_target([a for a in actions if a.kind != ActionKind.CRM_OPT_OUT])
        opt_outs = [a for a in actions if a.kind == ActionKind.CRM_OPT_OUT]
        for chunk in _chunks(opt_outs, CRM_WRITES_PER_CALL):
            await self._opt_out_in_crm(chunk)

    async def _apply_to_target(self, actions: list[Action]) -> None:
        writes: list[Action] = []
        unsubscribes: list[Action] = []
        archives: list[Action] = []
        deletions: list[Action] = []
        releases: list[Action] = []
        for action in actions:
            if action.kind in (ActionKind.ADD, ActionKind.UPDATE):
                writes.append(action)
            elif action.kind == ActionKind.RELEASE:
                releases.append(action)
            elif action.kind == ActionKind.UNSUBSCRIBE:
                unsubscribes.append(action)
            elif action.kind == ActionKind.REMOVE:
                (deletions if action.permanent else archives).append(action)
            else:
                self._tally(action)
        audience, size = self.request.audience, self.batch_size

        async def write(chunk: Sequence[Action]) -> None:
            results = await self.target.upsert(
                audience, [a.write for a in chunk if a.write is not None]
            )
            self._count(chunk, results)

        await all_of([write(chunk) for chunk in _chunks(writes, size)])
        for chunk in _chunks(unsubscribes, size):
            emails = [a.email for a in chunk]
            self._count(
                chunk, await self.target.set_status(audience, emails, MemberStatus.UNSUBSCRIBED)
            )
        for group, permanent in ((archives, False), (deletions, True)):
            for chunk in _chunks(group, size):
                emails = [a.email for a in chunk]
                self._count(chunk, await self.target.remove(audience, emails, permanent=permanent))
        await self._release(releases)

    async def _release(self, releases: list[Action]) -> None:
        """Drop this sync's claim; a member left with no claim at all (the other sync
        released it at the same time) gets the removal after all."""
        audience, owner = self.request.audience, self.request.settings.owner
        unclaimed: list[Action] = []
        for chunk in _chunks(releases, self.batch_size):
            results = await self.target.release(audience, [a.email for a in chunk], owner)
            left = {r.email: r.claims_left for r in results}
            kept = []
            for action in chunk:
                if action.then is not None and left.get(action.email) == frozenset():
                    unclaimed.append(action.then)
                else:
                    kept.append(action)
            self._count(kept, results)
        if unclaimed:
            await self._apply_to_target(unclaimed)

    async def _opt_out_in_crm(self, chunk: Sequence[Action]) -> None:
        """Set the CRM opt-out field of records whose member left on the campaign side."""
        settings = self.request.settings
        field_name = settings.policy.opt_out_field
        updates = [{"id": a.record_id, field_name: True} for a in chunk]
        results = await self.crm.update_records(settings.module, updates)
        by_id = {r.record_id: r for r in results}
        for action in chunk:
            result = by_id.get(action.record_id) or _unanswered(action.email, "CRM")
            self._tally(action, result)
            if result.outcome == WriteOutcome.REJECTED:
                self._failed(action.record_id)
                continue
            cleaned = action.reason == Reason.CAMPAIGN_CLEANED
            change = CampaignChange.CLEANED if cleaned else CampaignChange.UNSUBSCRIBED
            self.campaign_changes.note_change(change, action.email, NOTIFICATION_EXAMPLES)

    def _failed(self, record_id: str) -> None:
        if len(self.failed_ids) < MAX_FAILED_RECORD_IDS:
            self.failed_ids[record_id] = None

    def _tally(self, action: Action, result: WriteResult | None = None) -> None:
        """Count one action; a member an interrupted run already wrote counts as that
        write, once (unless the vendor now refuses it)."""
        sent = self.recovering.pop(pending.member_key(action.email), None) if action.email else None
        if sent is not None and (result is None or result.outcome != WriteOutcome.REJECTED):
            self.tally.count_sent(sent)
        elif result is None:
            self.tally.count_planned(action)
        else:
            self.tally.count_result(action, result)

    def _count(self, chunk: Sequence[Action], results: Sequence[WriteResult]) -> None:
        """Every action gets an answer: one the vendor did not give counts as failed."""
        by_email = {r.email: r for r in results}
        for action in chunk:
            result = by_email.get(action.email) or _unanswered(action.email, "vendor")
            self._tally(action, result)
            if self.request.record_index is not None and action.record_id:
                key = self.request.settings.record_key(action.record_id)
                self.request.record_index.note(action, result, key)
            if result.outcome == WriteOutcome.REJECTED and action.record_id:
                self._failed(action.record_id)
            elif action.kind in (ActionKind.REMOVE, ActionKind.RELEASE) and action.record_id:
                self.left_ids.add(action.record_id)
            if result.outcome == WriteOutcome.CREATED:
                self.members += 1
            elif result.outcome == WriteOutcome.REMOVED:
                self.members -= 1
