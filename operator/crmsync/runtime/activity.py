"""Carrying out one campaign-activity pass (Z16, C2, M10): Mailchimp campaigns sent to the
sync's audience → the CRM Campaigns module and each recipient's Member Status.

Per campaign (the latest 20 sent to the audience, after ``spec.campaignActivity.since``):

1. read the report; find the CRM Campaigns record (by the id status keeps, else by name
   and the Mailchimp id in its Description) and create or update it when the summary
   changed (:func:`crmsync.engine.activity.campaign_record_write`);
2. when the report moved since the last confirmed pass, read the recipients' activity
   since the checkpoint (and the campaign's unsubscribes), the Member_Status the CRM holds
   on the campaign's related list, and link recipients to CRM records (the ``CRMID`` merge
   field the sync writes, else the email);
3. write the statuses that move up, 100 records a call, and advance the checkpoint past
   what the CRM confirmed only.

Decisions are in :mod:`crmsync.engine.activity`; this module only reads and writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crmsync.api.v1alpha1.activity import (
    MAX_TRACKED_CAMPAIGNS,
    CampaignActivityRecord,
    CampaignActivitySpec,
    CampaignActivityStatus,
)
from crmsync.engine import activity as engine
from crmsync.engine.records import WriteOutcome, WriteResult, normalise_email
from crmsync.providers.http import ProviderError
from crmsync.providers.mailchimp import Mailchimp
from crmsync.providers.zoho_crm import ZohoCrm

GONE_CODE = "invalid_data"
"""A Member Status rejection naming the record id, not a field: the record is gone
(deleted, converted), so it counts as unmatched and is not retried. A refused
``Member_Status`` value (an org without the standard picklist value) is a failure."""


def _record_gone(result: WriteResult) -> bool:
    return result.reason == GONE_CODE and not result.detail.startswith("Member_Status")


@dataclass
class ActivityTally:
    campaigns: int = 0
    """Campaigns looked at."""
    campaigns_read: int = 0
    """Campaigns whose recipients' activity was read (the others had no new activity)."""
    crm_created: int = 0
    crm_updated: int = 0
    members_updated: int = 0
    members_failed: int = 0
    members_unmatched: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def message(self) -> str:
        text = (
            f"{self.campaigns} campaigns ({self.campaigns_read} with new activity), "
            f"{self.members_updated} members updated, {self.crm_created} CRM campaigns "
            f"created, {self.crm_updated} updated"
        )
        if self.members_unmatched:
            text += f", {self.members_unmatched} recipients not in the CRM"
        if self.members_failed:
            text += f", {self.members_failed} member writes failed"
        if self.errors:
            text += "; errors: " + "; ".join(self.errors[:3])
        return text


@dataclass
class ActivityResult:
    status: CampaignActivityStatus
    tally: ActivityTally


@dataclass(frozen=True)
class ActivityRequest:
    audience: str
    module: str
    email_field: str
    record_id_field: str
    spec: CampaignActivitySpec
    previous: CampaignActivityStatus | None


class ActivityPass:
    """One pass over the audience's recent campaigns."""

    def __init__(
        self,
        crm: ZohoCrm,
        mailchimp: Mailchimp,
        request: ActivityRequest,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.crm = crm
        self.mailchimp = mailchimp
        self.request = request
        self.now = now
        self.tally = ActivityTally()
        self._member_links: dict[str, str] | None = None

    async def run(self) -> ActivityResult:
        r = self.request
        previous = {c.campaign_id: c for c in (r.previous.campaigns if r.previous else [])}
        ids = await self.mailchimp.sent_campaigns(
            r.audience, since=r.spec.since, count=MAX_TRACKED_CAMPAIGNS
        )
        known = [previous[i].crm_campaign_id for i in ids if i in previous]
        existing = {
            rec.id: rec.values
            for rec in (
                await self.crm.records_by_id(
                    engine.CAMPAIGNS_MODULE, [k for k in known if k], engine.CAMPAIGN_FIELDS
                )
                if any(known)
                else []
            )
        }
        records: list[CampaignActivityRecord] = []
        for campaign_id in ids:
            self.tally.campaigns += 1
            tracked = previous.get(campaign_id)
            try:
                records.append(await self._campaign(campaign_id, tracked, existing))
            except ProviderError as exc:
                self.tally.errors.append(f"campaign {campaign_id}: {exc}")
                if tracked is not None:
                    records.append(tracked)
        status = CampaignActivityStatus(
            last_pass_time=self.now(),
            outcome="Failed" if self.tally.errors else "Succeeded",
            message=self.tally.message()[:4000],
            campaigns=records[:MAX_TRACKED_CAMPAIGNS],
        )
        return ActivityResult(status, self.tally)

    async def _campaign(
        self,
        campaign_id: str,
        tracked: CampaignActivityRecord | None,
        existing: Mapping[str, Mapping[str, object]],
    ) -> CampaignActivityRecord:
        r = self.request
        report = await self.mailchimp.campaign_report(campaign_id)
        found = await self._find_record(report, tracked, existing)
        write = engine.campaign_record_write(report, r.audience, found)
        crm_id = found[0] if found is not None else ""
        if write is not None:
            result = await self.crm.save_campaign(write.values, write.record_id)
            if result.outcome is WriteOutcome.REJECTED:
                raise ProviderError(
                    f"Campaigns record not saved: {result.reason} {result.detail}".strip(),
                    vendor="zoho-crm",
                )
            crm_id = result.record_id or crm_id
            if write.reason is engine.RecordReason.CREATE:
                self.tally.crm_created += 1
                tracked = None  # a new record has no members yet: read everything
            else:
                self.tally.crm_updated += 1
        record = CampaignActivityRecord(
            campaign_id=campaign_id,
            crm_campaign_id=crm_id,
            title=report.name,
            send_time=report.send_time,
            activity_since=tracked.activity_since if tracked else None,
            summary=report.summary(),
            members_updated=tracked.members_updated if tracked else 0,
            members_unmatched=tracked.members_unmatched if tracked else 0,
        )
        if not engine.needs_activity_read(report, tracked):
            return record
        self.tally.campaigns_read += 1
        return await self._members(campaign_id, crm_id, report, tracked, record)

    async def _find_record(
        self,
        report: engine.Report,
        tracked: CampaignActivityRecord | None,
        existing: Mapping[str, Mapping[str, object]],
    ) -> tuple[str, Mapping[str, object]] | None:
        if tracked is not None and tracked.crm_campaign_id in existing:
            return tracked.crm_campaign_id, existing[tracked.crm_campaign_id]
        named = await self.crm.campaigns_named(report.name, engine.CAMPAIGN_FIELDS)
        return engine.pick_record(((rec.id, rec.values) for rec in named), report.campaign_id)

    async def _members(
        self,
        campaign_id: str,
        crm_id: str,
        report: engine.Report,
        tracked: CampaignActivityRecord | None,
        record: CampaignActivityRecord,
    ) -> CampaignActivityRecord:
        r = self.request
        since = engine.read_since(tracked)
        recipients = [
            recipient
            async for page in self.mailchimp.email_activity(campaign_id, since=since)
            for recipient in page
        ]
        if report.unsubscribes:
            unsubscribes = await self.mailchimp.campaign_unsubscribes(campaign_id)
            recipients = engine.merge_unsubscribes(
                recipients, [(e, t) for e, t in unsubscribes if since is None or t >= since]
            )
        wanted = engine.candidates(recipients, first_read=since is None)
        if not wanted:
            checkpoint = engine.next_checkpoint(
                record.activity_since, recipients, (), report.send_time
            )
            return record.model_copy(update={"activity_since": checkpoint, "members_failed": 0})
        if engine.read_people_one_by_one(len(wanted), report.sent, first_read=since is None):
            links = await self._links(wanted, {})
            current = await self._statuses(crm_id, set(links.values()))
        else:
            listed = await self.crm.campaign_members(crm_id, r.module, r.email_field)
            links = await self._links(wanted, listed)
            current = {k: v[1] for k, v in listed.items()}
        plan = engine.plan_members(wanted, links, current)
        for reason, number in plan.skipped.items():
            self.tally.skipped[reason] = self.tally.skipped.get(reason, 0) + number
        results = (
            await self.crm.set_member_statuses(
                crm_id, r.module, {w.record_id: w.status for w in plan.writes}
            )
            if plan.writes
            else {}
        )
        failed: list[str] = []
        gone = 0
        confirmed = 0
        for write in plan.writes:
            result = results.get(write.record_id)
            if result is not None and result.outcome is not WriteOutcome.REJECTED:
                confirmed += 1
            elif result is not None and _record_gone(result):
                gone += 1
            else:
                failed.append(write.email)
        self.tally.members_updated += confirmed
        self.tally.members_failed += len(failed)
        unmatched = len(plan.unmatched) + gone
        self.tally.members_unmatched += unmatched
        return record.model_copy(
            update={
                "activity_since": engine.next_checkpoint(
                    record.activity_since, recipients, failed, report.send_time
                ),
                "members_updated": record.members_updated + confirmed,
                "members_unmatched": unmatched,
                "members_failed": len(failed),
            }
        )

    async def _links(
        self, wanted: list[engine.Recipient], current: Mapping[str, tuple[str, str]]
    ) -> dict[str, str]:
        """email → CRM record id: a record already on the campaign's list with that
        email, else the one the member's CRMID names, else the CRM record with that email."""
        r = self.request
        on_list = {email: rid for rid, (email, _) in current.items() if email}
        links = {x.email: on_list[x.email] for x in wanted if x.email in on_list}
        missing: list[str] = []
        if len(links) < len(wanted):
            member_links = await self._crmids()
            for recipient in wanted:
                if recipient.email in links:
                    continue
                value = member_links.get(recipient.email, "")
                rid = engine.record_id_from_link(value, r.module)
                if rid:
                    links[recipient.email] = rid
                else:
                    missing.append(recipient.email)
        if missing:
            found = await self.crm.records_by_email(
                r.module, r.email_field, missing, [r.email_field]
            )
            for rec in sorted(found, key=lambda x: (len(x.id), x.id), reverse=True):
                links[normalise_email(rec.values.get(r.email_field))] = rec.id
        return links

    async def _statuses(self, crm_id: str, record_ids: set[str]) -> dict[str, str]:
        """The Member_Status each record holds for the campaign (absent: not a member),
        read from the records' own Campaigns lists."""
        r = self.request
        lists = await asyncio.gather(
            *(self.crm.record_campaigns(r.module, rid) for rid in sorted(record_ids))
        )
        return {
            rid: campaigns[crm_id]
            for rid, campaigns in zip(sorted(record_ids), lists, strict=True)
            if crm_id in campaigns
        }

    async def _crmids(self) -> dict[str, str]:
        """The audience's members' ``CRMID`` values by email, read once per pass."""
        if self._member_links is None:
            r = self.request
            self._member_links = {}
            async for page in self.mailchimp.members(r.audience):
                for member in page:
                    value = member.values.get(r.record_id_field, "")
                    if value:
                        self._member_links[member.email] = value
        return self._member_links


async def run_activity_pass(
    crm: ZohoCrm, mailchimp: Mailchimp, request: ActivityRequest
) -> ActivityResult:
    return await ActivityPass(crm, mailchimp, request).run()
