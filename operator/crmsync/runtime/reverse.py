"""Carrying out the campaign → CRM half of a run, and running both halves in order.

The campaign → CRM half runs first: it reads the members changed since its checkpoint
(Mailchimp ``since_last_changed``; every member on a full run), finds their CRM records,
writes what :class:`~crmsync.engine.reverse.ReversePlanner` decided to the CRM, then
writes the merged values, the record link and the fingerprint back to the members. The
CRM → campaign half then sees CRM records equal to their members and changes nothing for
them, so nothing bounces. Its checkpoint never passes the run's start, nor the
last change of a member whose write failed (that member is read again next run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from crmsync.api.v1alpha1.status import SyncCounts
from crmsync.engine.records import CrmRecord, Member, MemberWrite, WriteOutcome, WriteResult
from crmsync.engine.reverse import (
    CrmWrite,
    ReversePlanner,
    ReverseTally,
    campaign_notifications,
)
from crmsync.engine.settings import SyncSettings
from crmsync.providers.base import AudienceTarget, CrmSource
from crmsync.providers.http import chunked
from crmsync.runtime.counting import RunTally
from crmsync.runtime.sync import ProgressCallback, RunRequest, RunResult, SyncRun

NOTIFICATION_EXAMPLES = 5
"""Emails kept per kind of campaign-side change, for the notification events."""


def _record_order(record: CrmRecord) -> tuple[int, str]:
    """The oldest record (smallest id) wins when several CRM records share an email."""
    return (len(record.id), record.id)


class ReverseRun:
    """The campaign → CRM half of one run."""

    def __init__(
        self,
        crm: CrmSource,
        target: AudienceTarget,
        settings: SyncSettings,
        audience: str,
        *,
        since: datetime | None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.crm = crm
        self.target = target
        self.settings = settings
        self.audience = audience
        self.since = since
        self.now = now
        self.tally = ReverseTally()

    async def execute(self) -> datetime:
        """Run it; return the checkpoint for the next run."""
        started = self.now()
        settings = self.settings
        field_types = {f.api_name: f.data_type for f in await self.crm.fields(settings.module)}
        planner = ReversePlanner(settings, field_types)
        async for page in self.target.members(self.audience, changed_since=self.since):
            self.tally.members_read += len(page)
            records = await self._records_of(planner, page)
            writes = [
                planner.plan(m, records.get(planner.linked_record_id(m) or m.email)) for m in page
            ]
            await self._apply(writes)
        oldest_failure = self.tally.oldest_failure
        return started if oldest_failure is None else min(started, oldest_failure)

    async def _records_of(
        self, planner: ReversePlanner, page: Sequence[Member]
    ) -> dict[str, CrmRecord]:
        """The page's CRM records, by record id for linked members, by email otherwise."""
        s = self.settings
        fields = s.record_fields
        ids = [i for m in page if (i := planner.linked_record_id(m))]
        found: dict[str, CrmRecord] = {
            r.id: r for r in await self.crm.records_by_id(s.module, ids, fields)
        }
        unlinked = [m.email for m in page if not planner.record_key(m)]
        if unlinked:
            matches = await self.crm.records_by_email(s.module, s.email_field, unlinked, fields)
            for record in sorted(matches, key=_record_order, reverse=True):
                email = str(record.values.get(s.email_field) or "").strip().lower()
                found[email] = record  # the oldest is written last and wins
        return found

    async def _apply(self, writes: list[CrmWrite]) -> None:
        s = self.settings
        done: list[CrmWrite] = []
        creates = [w for w in writes if w.creates]
        updates = [w for w in writes if w.skip is None and not w.creates and w.crm_values]
        for write in writes:
            if write.skip is not None:
                self.tally.skipped += 1
                self.tally.by_reason[write.skip] += 1
            elif not write.creates and not write.crm_values:
                done.append(write)  # nothing for the CRM; perhaps a link or merge to write
        created = await self.crm.create_records(s.module, [dict(w.crm_values) for w in creates])
        for write, result in zip(creates, created, strict=True):
            if self._succeeded(write, result):
                key = s.record_key(result.record_id)
                link = {
                    k: (key if k == s.record_id_field else v)
                    for k, v in write.member_values.items()
                }
                done.append(
                    replace(write, record_id=result.record_id, member_values=link, created=True)
                )
        updated = await self.crm.update_records(
            s.module, [{"id": w.record_id, **w.crm_values} for w in updates]
        )
        done += [w for w, r in zip(updates, updated, strict=True) if self._succeeded(w, r)]
        await self._write_members(done)

    def _succeeded(self, write: CrmWrite, result: WriteResult) -> bool:
        if result.outcome == WriteOutcome.REJECTED:
            self.tally.note_failure(write.member, result.reason or "rejected")
            return False
        return True

    async def _write_members(self, done: list[CrmWrite]) -> None:
        """Merged values, links and fingerprints back to the members; then count."""
        s = self.settings
        pending = [w for w in done if w.member_values]
        for chunk in chunked(pending, self.target.max_batch):
            writes = [
                MemberWrite(email=w.email, values=w.member_values, status_if_new=w.member.status)
                for w in chunk
            ]
            results = {r.email: r for r in await self.target.upsert(self.audience, writes)}
            for write in chunk:
                result = results.get(write.email)
                if result is None or result.outcome == WriteOutcome.REJECTED:
                    reason = result.reason if result is not None else "no_result"
                    self.tally.note_failure(write.member, reason or "rejected")
                elif set(write.member_values) - {s.record_id_field, s.fingerprint_field}:
                    self.tally.members_updated += 1
        for write in done:
            self.tally.note_done(write, s.policy.opt_out_field, NOTIFICATION_EXAMPLES)


async def execute_flow(
    crm: CrmSource,
    target: AudienceTarget,
    request: RunRequest,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """One run of a sync in its declared direction(s): campaign → CRM first, then CRM →
    campaign. Dry runs (``crmsync plan``) show the CRM → campaign half only."""
    settings = request.settings
    reverse: ReverseTally | None = None
    reverse_checkpoint = request.checkpoint.campaign_changed_since
    started = datetime.now(UTC)
    reverse_full = request.full or reverse_checkpoint is None
    if settings.campaign_to_crm and not request.dry_run:
        since = None if reverse_full else reverse_checkpoint
        run = ReverseRun(crm, target, settings, request.audience, since=since)
        reverse_checkpoint = await run.execute()
        reverse = run.tally
    if settings.crm_to_campaign:
        result = await SyncRun(crm, target, request, on_progress).execute()
    else:
        members = reverse.members_read if reverse is not None and reverse_full else -1
        result = RunResult(RunTally(), request.checkpoint.model_copy(), members)
        if reverse_full:
            result.checkpoint.last_full_sync_time = started
    result.checkpoint.campaign_changed_since = reverse_checkpoint
    result.reverse = reverse
    return result


def campaign_counts(counts: SyncCounts, reverse: ReverseTally | None) -> SyncCounts:
    """The run's counts with the campaign → CRM half's added in."""
    if reverse is None:
        return counts
    by_reason = dict(counts.skipped_by_reason)
    for reason, number in reverse.by_reason.items():
        by_reason[reason] = by_reason.get(reason, 0) + number
    return counts.model_copy(
        update={
            "crm_created": counts.crm_created + reverse.crm_created,
            "crm_updated": counts.crm_updated + reverse.crm_updated,
            "crm_opted_out": counts.crm_opted_out + reverse.crm_opted_out,
            "skipped_ignored": counts.skipped_ignored + reverse.skipped,
            "failed": counts.failed + reverse.failed,
            "skipped_by_reason": by_reason,
        }
    )


__all__ = ["ReverseRun", "campaign_counts", "campaign_notifications", "execute_flow"]
