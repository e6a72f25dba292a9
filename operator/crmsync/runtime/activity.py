"""Carrying out one campaign-activity pass (Z16, C2, M10): campaigns sent to the sync's
Mailchimp audience or Zoho Campaigns list (or an EmailCampaign's campaign) → the CRM
Campaigns module and each recipient's Member Status.

The pass is the same for both providers; what differs is behind :class:`CampaignSource`,
one adapter each (:class:`MailchimpActivity`, :class:`ZohoCampaignsActivity`): which
campaigns, their reports, how recipients are read, and the link from a recipient to its
CRM record. Per campaign (the latest 20 sent, after ``spec.campaignActivity.since``):

1. read the report; find the CRM Campaigns record (by the id status keeps, else by name
   and the provider's campaign id in its Description) and create or update it when the
   summary changed (:func:`crmsync.engine.activity.campaign_record_write`);
2. when the report moved since the last confirmed pass (or not every recipient was
   written yet), read the recipients (the adapter), the Member_Status the CRM holds on the
   campaign's related list, and link recipients to CRM records (the record link the sync
   keeps, else the email);
3. write the statuses that move up, 100 records a call, and advance the checkpoint past
   what the CRM confirmed only.

Decisions are in :mod:`crmsync.engine.activity`; this module only reads and writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

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
from crmsync.providers.zoho_campaigns import ZohoCampaigns
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
class _ModuleOutcome:
    unmatched: set[str]
    """Recipients with no record of the module."""
    confirmed: int = 0
    gone: int = 0
    failed: list[str] = field(default_factory=list)


@dataclass
class ActivityResult:
    status: CampaignActivityStatus
    tally: ActivityTally


@dataclass(frozen=True)
class ActivityRequest:
    audience: str
    """The Mailchimp audience id or Zoho Campaigns list key."""
    module: str
    email_field: str
    record_id_field: str
    """The member field holding the CRM record (Mailchimp ``CRMID``)."""
    spec: CampaignActivitySpec
    previous: CampaignActivityStatus | None
    campaign_keys: tuple[str, ...] | None = None
    """These campaigns only (an EmailCampaign's), instead of the latest sent to the list."""
    record_links: Mapping[str, str] | None = None
    """email → ``Module:recordId``, for providers whose members do not return the link
    (Zoho Campaigns: the ContactSync's record index)."""
    modules: tuple[str, ...] = ()
    """The modules whose records receive Member Status (an EmailCampaign's Leads and
    Contacts); empty: ``module`` only."""

    @property
    def member_modules(self) -> tuple[str, ...]:
        return self.modules or (self.module,)


@dataclass(frozen=True)
class RecipientRead:
    recipients: list[engine.Recipient]
    full: bool
    """The whole recipient list was read: everyone is a candidate."""


class CampaignSource(Protocol):
    """One provider's side of a pass (an adapter around its client)."""

    async def sent_campaigns(self, previous: Mapping[str, CampaignActivityRecord]) -> list[str]: ...

    async def report(self, campaign_id: str) -> engine.Report: ...

    async def recipients(
        self, report: engine.Report, tracked: CampaignActivityRecord | None
    ) -> RecipientRead: ...

    async def record_links(self) -> Mapping[str, str]:
        """email → the member's CRM record link (``Module:recordId``)."""
        ...


class MailchimpActivity:
    """Mailchimp: the latest campaigns sent to the audience; on a full read ``sent-to``
    (everyone, Sent or Bounced) with all email activity, afterwards email activity since
    the checkpoint; unsubscribes from ``/unsubscribed``; links from the ``CRMID`` merge
    field."""

    def __init__(self, mailchimp: Mailchimp, request: ActivityRequest) -> None:
        self.mailchimp = mailchimp
        self.request = request

    async def sent_campaigns(self, previous: Mapping[str, CampaignActivityRecord]) -> list[str]:
        r = self.request
        if r.campaign_keys is not None:
            return list(r.campaign_keys)
        return await self.mailchimp.sent_campaigns(
            r.audience, since=r.spec.since, count=MAX_TRACKED_CAMPAIGNS
        )

    async def report(self, campaign_id: str) -> engine.Report:
        return await self.mailchimp.campaign_report(campaign_id)

    async def recipients(
        self, report: engine.Report, tracked: CampaignActivityRecord | None
    ) -> RecipientRead:
        campaign_id = report.campaign_id
        full = engine.full_read(tracked)
        since = engine.read_since(tracked)
        everyone = (
            [r async for page in self.mailchimp.sent_to(campaign_id) for r in page] if full else []
        )
        activity = [
            r
            async for page in self.mailchimp.email_activity(campaign_id, since=since)
            for r in page
        ]
        recipients = engine.merge_recipients(everyone, activity)
        if report.unsubscribes:
            unsubscribes = await self.mailchimp.campaign_unsubscribes(campaign_id)
            recipients = engine.merge_unsubscribes(
                recipients, [(e, t) for e, t in unsubscribes if since is None or t >= since]
            )
        return RecipientRead(recipients, full)

    async def record_links(self) -> dict[str, str]:
        r = self.request
        links: dict[str, str] = {}
        async for page in self.mailchimp.members(r.audience):
            for member in page:
                value = member.values.get(r.record_id_field, "")
                if value:
                    links[member.email] = value
        return links


class ZohoCampaignsActivity:
    """Zoho Campaigns: the latest campaigns sent to the list (``recentsentcampaigns``, each
    new one's lists checked with ``getcampaigndetails``), or an EmailCampaign's; reports
    from ``campaignreports``; recipients from ``getcampaignrecipientsdata``, one recipient
    list per kind of response, and only those whose report count moved
    (:func:`crmsync.engine.activity.zoho_lists_to_read`); links from the record index."""

    def __init__(self, campaigns: ZohoCampaigns, request: ActivityRequest) -> None:
        self.campaigns = campaigns
        self.request = request

    async def sent_campaigns(self, previous: Mapping[str, CampaignActivityRecord]) -> list[str]:
        r = self.request
        if r.campaign_keys is not None:
            return list(r.campaign_keys)
        since_ms = int(r.spec.since.timestamp() * 1000) if r.spec.since else 0
        keys: list[str] = []
        for key, sent_ms in await self.campaigns.recent_sent_campaigns(MAX_TRACKED_CAMPAIGNS):
            if sent_ms < since_ms:
                continue
            if key in previous or r.audience in await self.campaigns.campaign_lists(key):
                keys.append(key)
        return keys

    async def report(self, campaign_id: str) -> engine.Report:
        return await self.campaigns.campaign_report(campaign_id)

    async def recipients(
        self, report: engine.Report, tracked: CampaignActivityRecord | None
    ) -> RecipientRead:
        reads: list[list[engine.Recipient]] = []
        for action, status in engine.zoho_lists_to_read(report, tracked):
            emails = await self.campaigns.campaign_recipients(report.campaign_id, action)
            reads.append([engine.Recipient(e, reached=status) for e in emails])
        return RecipientRead(engine.merge_recipients(*reads), engine.full_read(tracked))

    async def record_links(self) -> Mapping[str, str]:
        return self.request.record_links or {}


def campaign_source(target: Mailchimp | ZohoCampaigns, request: ActivityRequest) -> CampaignSource:
    if isinstance(target, Mailchimp):
        return MailchimpActivity(target, request)
    return ZohoCampaignsActivity(target, request)


class ActivityPass:
    """One pass over the audience's (or list's) recent campaigns."""

    def __init__(
        self,
        crm: ZohoCrm,
        source: CampaignSource,
        request: ActivityRequest,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.crm = crm
        self.source = source
        self.request = request
        self.now = now
        self.tally = ActivityTally()
        self._member_links: Mapping[str, str] | None = None

    async def run(self) -> ActivityResult:
        r = self.request
        previous = {c.campaign_id: c for c in (r.previous.campaigns if r.previous else [])}
        ids = await self.source.sent_campaigns(previous)
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
        report = await self.source.report(campaign_id)
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
            recipients_written=tracked.recipients_written if tracked else False,
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
        return engine.pick_record(
            ((rec.id, rec.values) for rec in named), report.campaign_id, report.source
        )

    async def _members(
        self,
        campaign_id: str,
        crm_id: str,
        report: engine.Report,
        tracked: CampaignActivityRecord | None,
        record: CampaignActivityRecord,
    ) -> CampaignActivityRecord:
        r = self.request
        read = await self.source.recipients(report, tracked)
        recipients, full = read.recipients, read.full
        wanted = engine.candidates(recipients, first_read=full)
        if not wanted:
            checkpoint = engine.next_checkpoint(
                record.activity_since, recipients, (), report.send_time
            )
            return record.model_copy(
                update={
                    "activity_since": checkpoint,
                    "members_failed": 0,
                    "recipients_written": record.recipients_written or full,
                }
            )
        failed: list[str] = []
        gone = 0
        confirmed = 0
        unmatched_in: list[set[str]] = []
        for module in r.member_modules:
            outcome = await self._module_members(module, crm_id, report, wanted, full)
            failed += outcome.failed
            gone += outcome.gone
            confirmed += outcome.confirmed
            unmatched_in.append(outcome.unmatched)
        unmatched_emails = set.intersection(*unmatched_in) if unmatched_in else set()
        if unmatched_emails:
            skip = engine.MemberSkip.NO_CRM_RECORD
            self.tally.skipped[skip] = self.tally.skipped.get(skip, 0) + len(unmatched_emails)
        self.tally.members_updated += confirmed
        self.tally.members_failed += len(failed)
        unmatched = len(unmatched_emails) + gone
        self.tally.members_unmatched += unmatched
        return record.model_copy(
            update={
                "activity_since": engine.next_checkpoint(
                    record.activity_since, recipients, failed, report.send_time
                ),
                "members_updated": record.members_updated + confirmed,
                "members_unmatched": unmatched,
                "members_failed": len(failed),
                "recipients_written": record.recipients_written or (full and not failed),
            }
        )

    async def _module_members(
        self,
        module: str,
        crm_id: str,
        report: engine.Report,
        wanted: list[engine.Recipient],
        full: bool,
    ) -> _ModuleOutcome:
        """Plan and write one module's Member Statuses."""
        r = self.request
        if engine.read_people_one_by_one(len(wanted), report.sent, first_read=full):
            links = await self._links(module, wanted, {})
            current = await self._statuses(module, crm_id, set(links.values()))
        else:
            listed = await self.crm.campaign_members(crm_id, module, r.email_field)
            links = await self._links(module, wanted, listed)
            current = {k: v[1] for k, v in listed.items()}
        plan = engine.plan_members(wanted, links, current)
        for reason, number in plan.skipped.items():
            if reason is not engine.MemberSkip.NO_CRM_RECORD:  # counted across modules
                self.tally.skipped[reason] = self.tally.skipped.get(reason, 0) + number
        results = (
            await self.crm.set_member_statuses(
                crm_id, module, {w.record_id: w.status for w in plan.writes}
            )
            if plan.writes
            else {}
        )
        outcome = _ModuleOutcome(unmatched=set(plan.unmatched))
        for write in plan.writes:
            result = results.get(write.record_id)
            if result is not None and result.outcome is not WriteOutcome.REJECTED:
                outcome.confirmed += 1
            elif result is not None and _record_gone(result):
                outcome.gone += 1
            else:
                outcome.failed.append(write.email)
        return outcome

    async def _links(
        self, module: str, wanted: list[engine.Recipient], current: Mapping[str, tuple[str, str]]
    ) -> dict[str, str]:
        """email → CRM record id: a record already on the campaign's list with that
        email, else the one the member's CRMID names, else the CRM record with that email."""
        r = self.request
        on_list = {email: rid for rid, (email, _) in current.items() if email}
        links = {x.email: on_list[x.email] for x in wanted if x.email in on_list}
        missing: list[str] = []
        if len(links) < len(wanted):
            member_links = await self._record_links()
            for recipient in wanted:
                if recipient.email in links:
                    continue
                value = member_links.get(recipient.email, "")
                rid = engine.record_id_from_link(value, module)
                if rid:
                    links[recipient.email] = rid
                else:
                    missing.append(recipient.email)
        if missing:
            found = await self.crm.records_by_email(module, r.email_field, missing, [r.email_field])
            for rec in sorted(found, key=lambda x: (len(x.id), x.id), reverse=True):
                links[normalise_email(rec.values.get(r.email_field))] = rec.id
        return links

    async def _statuses(self, module: str, crm_id: str, record_ids: set[str]) -> dict[str, str]:
        """The Member_Status each record holds for the campaign (absent: not a member),
        read from the records' own Campaigns lists."""
        lists = await asyncio.gather(
            *(self.crm.record_campaigns(module, rid) for rid in sorted(record_ids))
        )
        return {
            rid: campaigns[crm_id]
            for rid, campaigns in zip(sorted(record_ids), lists, strict=True)
            if crm_id in campaigns
        }

    async def _record_links(self) -> Mapping[str, str]:
        """The members' CRM record links by email, read once per pass."""
        if self._member_links is None:
            self._member_links = await self.source.record_links()
        return self._member_links


async def run_activity_pass(
    crm: ZohoCrm, target: Mailchimp | ZohoCampaigns, request: ActivityRequest
) -> ActivityResult:
    return await ActivityPass(crm, campaign_source(target, request), request).run()
