"""Campaign activity back into the CRM (Z16, C2, M10): PURE decisions, the same for every
campaign provider.

Inputs are what the vendors said — a sent campaign's :class:`Report` and its recipients
as :class:`Recipient` values, whichever provider (Mailchimp or Zoho Campaigns) they were
read from (the adapters are in :mod:`crmsync.runtime.activity`) — and what the CRM holds
(the Campaigns record, each linked lead/contact's ``Member_Status``); outputs are the CRM
writes, each with its reason, what to read next time and the next checkpoint. No I/O
here.

**The Campaigns record.** Per sent campaign, one record in the CRM ``Campaigns`` module.
Standard fields only: ``Campaign_Name`` (the campaign's title or name, else the subject
line), ``Type`` = Email, ``Status`` = Complete (the mailing has gone out), ``Start_Date``
= the send date, ``Num_sent`` (Zoho's own "Num sent" field) = emails sent, and
``Description`` = the whole summary (delivered, unique and total opens and clicks,
unopened, hard and soft bounces, unsubscribes, complaints) with the provider and campaign
id on its first line (``Mailchimp campaign <id> (audience <id>)``, ``Zoho Campaigns
campaign <key> (list <key>)``), which is how a record is recognised again when status has
lost track of it. Zoho has no
standard fields for opens, clicks or bounces; custom fields would need the
``settings.fields`` create scope and an admin profile on every customer's CRM and count
against the edition's custom-field quota, while the per-person response is already
filterable through Member Status. Name, type, status and start date are set when the
record is created and then left to CRM users; crmsync owns ``Num_sent`` and
``Description`` and rewrites them only when the report changed.

**Member Status** on the record's Campaigns related list, from Zoho's standard picklist
(Planned, Invited, Sent, Received, Opened, Responded, Bounced, Opted Out): sent → Sent,
bounced (hard or soft) → Bounced, opened → Opened, clicked → Responded (Zoho's word for a
reaction to the campaign; "Clicked" is not a standard value), unsubscribed or marked as
spam (a complaint: the person is not mailed again) → Opted Out.
A status only moves up, in this order: Planned/Invited < Sent/Received < Bounced < Opened
< Responded/Clicked < Opted Out/Unsubscribed. An open proves delivery, so it outranks a
(soft) bounce; an unsubscribe is the strongest answer and what CRM users must see.

**Every recipient once, then only news.** Until each recipient of a campaign has been
written once (:attr:`CampaignActivityRecord.recipients_written`), a pass reads the whole
recipient list (Mailchimp ``sent-to``, Zoho Campaigns ``sentcontacts``) so everyone gets at
least Sent (or Bounced); afterwards only activity is read, and only when the report's
counts changed since the last confirmed pass (or a write failed), so a quiet campaign
costs one report call.

**Incremental, per provider.** Mailchimp activity has times: each campaign keeps a
checkpoint, the latest activity whose CRM writes were confirmed, and the next read is
``email-activity?since=`` the checkpoint minus :data:`READ_OVERLAP` (events recorded late
are not lost; what is read twice compares equal and is not written). Zoho Campaigns'
recipient lists have no times: the report's count per kind of response is the change
signal, and only the lists whose counts moved are read again (:func:`moved_counts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from crmsync.api.v1alpha1.activity import (
    CampaignActivityRecord,
    CampaignActivitySpec,
    CampaignSummary,
)
from crmsync.api.v1alpha1.emailcampaign import ACTIVITY_DAYS, EmailCampaignActivity
from crmsync.api.v1alpha1.status import RunTrigger
from crmsync.engine.schedule import parse_duration

CAMPAIGNS_MODULE = "Campaigns"
MEMBER_MODULES = ("Leads", "Contacts")
"""Modules with a Campaigns related list (campaign membership and Member_Status)."""
NAME_LENGTH = 120
"""Zoho's ``Campaign_Name`` length."""
READ_OVERLAP = timedelta(minutes=10)
MAILCHIMP = "Mailchimp"
ZOHO_CAMPAIGNS = "Zoho Campaigns"
SCOPE_WORDS = {MAILCHIMP: "audience", ZOHO_CAMPAIGNS: "list"}
"""Provider → what its campaigns are sent to, as the Description names it."""
CAMPAIGN_FIELDS = ("Campaign_Name", "Type", "Status", "Start_Date", "Num_sent", "Description")
OWNED_FIELDS = ("Num_sent", "Description")
"""Fields crmsync keeps up to date after creating the record."""

SENT = "Sent"
BOUNCED = "Bounced"
OPENED = "Opened"
RESPONDED = "Responded"
OPTED_OUT = "Opted Out"

ACTION_STATUS = {
    "sent": SENT,
    "bounce": BOUNCED,
    "open": OPENED,
    "click": RESPONDED,
    "unsub": OPTED_OUT,
    "spam": OPTED_OUT,
}
"""Activity ``action`` (Mailchimp's words; ``spam`` is a complaint) → ``Member_Status``."""
RANK = {
    "": 0,
    "Planned": 0,
    "Invited": 0,
    SENT: 1,
    "Received": 1,
    BOUNCED: 2,
    OPENED: 3,
    RESPONDED: 4,
    "Clicked": 4,
    OPTED_OUT: 5,
    "Unsubscribed": 5,
}
"""How far along a status is; a value not listed (an org's own) ranks with Planned."""


def rank(status: str) -> int:
    return RANK.get(status, 0)


ALWAYS_TRIGGERS = frozenset({RunTrigger.MANUAL, RunTrigger.INITIAL, RunTrigger.SPEC_CHANGE})
"""Runs after which a pass always happens; after the others, once per ``interval``."""


def pass_due(
    spec: CampaignActivitySpec | None,
    trigger: str,
    last_pass: datetime | None,
    now: datetime,
    *,
    campaign_sent: bool = False,
) -> bool:
    """Whether a successful run of ``trigger`` is followed by an activity pass
    (``campaign_sent``: the audience webhook said a campaign went out meanwhile)."""
    if spec is None or not spec.enabled:
        return False
    if trigger in ALWAYS_TRIGGERS or last_pass is None or campaign_sent:
        return True
    return now - last_pass >= parse_duration(spec.interval)


def email_campaign_pass_due(
    spec: EmailCampaignActivity,
    sent_time: datetime | None,
    last_pass: datetime | None,
    now: datetime,
    *,
    requested: bool,
    periodic: bool,
) -> bool:
    """Whether an EmailCampaign's activity pass runs: once sent, and enabled; at once when
    asked (``requested``: a new sync-now annotation), never run yet or on a handler pass
    (operator start, a change); from the Connection's timer (``periodic``) at most once
    per ``interval`` and for :data:`ACTIVITY_DAYS` days after the send."""
    if not spec.enabled or sent_time is None:
        return False
    if requested or last_pass is None or not periodic:
        return True
    if now - sent_time > timedelta(days=ACTIVITY_DAYS):
        return False
    return now - last_pass >= parse_duration(spec.interval)


# --- what the vendors said -----------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    """A sent campaign and its report (Mailchimp ``GET /reports/{id}``, Zoho Campaigns
    ``campaignreports``); counts a provider does not give are its nearest (Zoho counts
    unique opens and clicks only, so the totals equal them)."""

    campaign_id: str
    title: str
    send_time: datetime
    sent: int = 0
    opens: int = 0
    """Unique opens."""
    opens_total: int = 0
    clicks: int = 0
    """Unique (subscriber) clicks."""
    clicks_total: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    unsubscribes: int = 0
    complaints: int = 0
    source: str = MAILCHIMP
    """The provider: :data:`MAILCHIMP` or :data:`ZOHO_CAMPAIGNS`."""

    @property
    def delivered(self) -> int:
        return max(self.sent - self.hard_bounces - self.soft_bounces, 0)

    def summary(self) -> CampaignSummary:
        return CampaignSummary(
            sent=self.sent,
            delivered=self.delivered,
            opens=self.opens,
            clicks=self.clicks,
            hard_bounces=self.hard_bounces,
            soft_bounces=self.soft_bounces,
            unsubscribes=self.unsubscribes,
            complaints=self.complaints,
        )

    @property
    def name(self) -> str:
        return (self.title.strip() or self.campaign_id)[:NAME_LENGTH]


@dataclass(frozen=True)
class Action:
    action: str
    """``open``, ``click``, ``bounce`` or ``unsub`` (Mailchimp's words)."""
    timestamp: datetime


@dataclass(frozen=True)
class Recipient:
    """One recipient of a campaign with what was read about them: timed activity (since
    the checkpoint) and/or a status read without a time (``reached``)."""

    email: str
    """Normalised."""
    actions: tuple[Action, ...] = ()
    reached: str = ""
    """A Member Status known without a time: Mailchimp ``sent-to`` (Sent, or Bounced for a
    hard or soft bounce), the Zoho Campaigns recipient list the person is on (Sent,
    Bounced, Opened, Responded, Opted Out). Empty: only what ``actions`` say."""

    def status(self) -> str:
        """The Member Status this activity means on its own (at least Sent)."""
        statuses = [ACTION_STATUS.get(a.action, SENT) for a in self.actions]
        return max([*statuses, self.reached or SENT], key=rank)


def merge_recipients(*reads: Iterable[Recipient]) -> list[Recipient]:
    """One :class:`Recipient` per email from several reads (sent-to, email-activity,
    unsubscribes; Zoho's lists per action): actions joined without duplicates, the
    furthest ``reached`` kept. Order: first seen."""
    merged: dict[str, Recipient] = {}
    for read in reads:
        for r in read:
            held = merged.get(r.email)
            if held is None:
                merged[r.email] = r
                continue
            actions = held.actions + tuple(a for a in r.actions if a not in held.actions)
            reached = max(held.reached, r.reached, key=rank) if r.reached else held.reached
            merged[r.email] = Recipient(r.email, actions, reached)
    return list(merged.values())


def merge_unsubscribes(
    recipients: Sequence[Recipient], unsubscribes: Iterable[tuple[str, datetime]]
) -> list[Recipient]:
    """Add ``/reports/{id}/unsubscribed`` rows as ``unsub`` actions (Mailchimp's
    email-activity lists opens, clicks and bounces only); no duplicates."""
    return merge_recipients(
        recipients, [Recipient(email, (Action("unsub", when),)) for email, when in unsubscribes]
    )


# --- the Campaigns record ------------------------------------------------------------------


def marker(source: str, campaign_id: str) -> str:
    """How the Description crmsync writes begins: provider and campaign id."""
    return f"{source} campaign {campaign_id} "


def description(report: Report, audience: str) -> str:
    """The summary as the record's Description; stable text (no times of our own), so an
    unchanged report compares equal."""
    scope = SCOPE_WORDS.get(report.source, "list")
    return (
        f"{marker(report.source, report.campaign_id)}({scope} {audience}), "
        f"sent {report.send_time.isoformat(timespec='seconds')}.\n"
        f"Sent: {report.sent}; delivered: {report.delivered}; "
        f"opens: {report.opens} unique ({report.opens_total} total); "
        f"unopened: {max(report.delivered - report.opens, 0)}; "
        f"clicks: {report.clicks} unique ({report.clicks_total} total); "
        f"hard bounces: {report.hard_bounces}; soft bounces: {report.soft_bounces}; "
        f"unsubscribes: {report.unsubscribes}; complaints: {report.complaints}.\n"
        "Kept up to date by crmsync (Num sent and this description)."
    )


def is_ours(values: Mapping[str, Any], campaign_id: str, source: str = MAILCHIMP) -> bool:
    """Whether a CRM Campaigns record is the one crmsync made for ``campaign_id``."""
    first = str(values.get("Description") or "").split("\n", 1)[0]
    return first.startswith(marker(source, campaign_id))


class RecordReason(StrEnum):
    CREATE = "create"
    """No CRM record for the campaign yet."""
    SUMMARY_CHANGED = "summary_changed"
    """The report moved on since the record was written (or someone edited the summary)."""


@dataclass(frozen=True)
class CampaignRecordWrite:
    values: dict[str, Any]
    reason: RecordReason
    record_id: str = ""
    """Empty: create."""


def campaign_record_write(
    report: Report, audience: str, existing: tuple[str, Mapping[str, Any]] | None
) -> CampaignRecordWrite | None:
    """The write that makes the CRM record hold ``report``; None when it already does.
    ``existing`` is (record id, values) of the record found for the campaign."""
    owned = {"Num_sent": report.sent, "Description": description(report, audience)}
    if existing is None:
        values = {
            "Campaign_Name": report.name,
            "Type": "Email",
            "Status": "Complete",
            "Start_Date": report.send_time.date().isoformat(),
            **owned,
        }
        return CampaignRecordWrite(values, RecordReason.CREATE)
    record_id, current = existing
    changed = {k: v for k, v in owned.items() if _differs(current.get(k), v)}
    if not changed:
        return None
    return CampaignRecordWrite(changed, RecordReason.SUMMARY_CHANGED, record_id)


def _differs(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, int):
        try:
            return int(current) != wanted
        except (TypeError, ValueError):
            return True
    return str(current or "") != str(wanted)


def pick_record(
    candidates: Iterable[tuple[str, Mapping[str, Any]]],
    campaign_id: str,
    source: str = MAILCHIMP,
) -> tuple[str, Mapping[str, Any]] | None:
    """Among Campaigns records found by name, the one crmsync made for this campaign."""
    ours = [c for c in candidates if is_ours(c[1], campaign_id, source)]
    return min(ours, key=lambda c: (len(c[0]), c[0])) if ours else None


# --- reading: whether and from when ------------------------------------------------------


def needs_activity_read(report: Report, tracked: CampaignActivityRecord | None) -> bool:
    """Whether recipients' activity must be read: not every recipient written once yet, a
    write was left to retry, or the report's counts moved since the last confirmed pass."""
    if tracked is None or tracked.members_failed or not tracked.recipients_written:
        return True
    return report.summary() != tracked.summary


def full_read(tracked: CampaignActivityRecord | None) -> bool:
    """Whether the whole recipient list is read (and every recipient is a candidate):
    until each recipient was written once; also while writes are left to retry, for the
    providers whose activity has no times (Zoho Campaigns)."""
    return tracked is None or not tracked.recipients_written


def read_since(tracked: CampaignActivityRecord | None) -> datetime | None:
    """``since`` for email-activity: None (everything) on the first read."""
    if tracked is None or tracked.activity_since is None:
        return None
    return tracked.activity_since - READ_OVERLAP


SUMMARY_FIELDS = (
    "sent", "opens", "clicks", "hard_bounces", "soft_bounces", "unsubscribes", "complaints"
)  # fmt: skip
"""Report counts that say recipients moved (``delivered`` follows from the bounces)."""


def moved_counts(report: Report, tracked: CampaignActivityRecord | None) -> set[str]:
    """The summary counts that differ from those of the last confirmed pass; all of them
    (the non-zero ones) on a full read or while a write is left to retry. Zoho Campaigns
    reads again exactly the recipient lists behind these counts."""
    now = report.summary()
    if tracked is None or full_read(tracked) or tracked.members_failed:
        return {name for name in SUMMARY_FIELDS if getattr(now, name)}
    return {name for name in SUMMARY_FIELDS if getattr(now, name) != getattr(tracked.summary, name)}


ZOHO_RECIPIENT_LISTS: dict[str, tuple[str, str]] = {
    "sent": ("sentcontacts", SENT),
    "hard_bounces": ("senthardbounce", BOUNCED),
    "soft_bounces": ("sentsoftbounce", BOUNCED),
    "opens": ("openedcontacts", OPENED),
    "clicks": ("clickedcontacts", RESPONDED),
    "unsubscribes": ("optoutcontacts", OPTED_OUT),
    "complaints": ("spamcontacts", OPTED_OUT),
}
"""Summary count → the Zoho Campaigns recipient list behind it (``getcampaignrecipientsdata``
``action``) and the Member Status its people reach. ``unopenedcontacts`` and
``unsentcontacts`` add nothing: unopened people are Sent, unsent ones were never sent."""


def zoho_lists_to_read(
    report: Report, tracked: CampaignActivityRecord | None
) -> list[tuple[str, str]]:
    """(action, Member Status) of the Zoho Campaigns recipient lists to read: those whose
    count moved (all non-empty ones on a full read or a retry), in a fixed order."""
    moved = moved_counts(report, tracked)
    return [ZOHO_RECIPIENT_LISTS[name] for name in SUMMARY_FIELDS if name in moved]


# --- Member Status -------------------------------------------------------------------------


class MemberSkip(StrEnum):
    UNCHANGED = "unchanged"
    """The CRM already holds this status."""
    NOT_UPWARD = "not_upward"
    """The CRM holds a further status (e.g. Responded, and the activity read is an open)."""
    NO_CRM_RECORD = "no_crm_record"
    """No lead/contact of the synced module for this recipient."""


class MemberReason(StrEnum):
    NEW_MEMBER = "new_member"
    """Not on the campaign's related list yet."""
    STATUS_UP = "status_up"
    """New activity moves the status up."""


@dataclass(frozen=True)
class MemberWrite:
    record_id: str
    email: str
    status: str
    reason: MemberReason
    previous: str = ""


@dataclass
class MemberPlan:
    writes: list[MemberWrite] = field(default_factory=list)
    skipped: dict[MemberSkip, int] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    """Emails with no CRM record."""

    def skip(self, why: MemberSkip) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def candidates(recipients: Iterable[Recipient], *, first_read: bool) -> list[Recipient]:
    """Recipients that may need a write: all on the first read (everyone was sent the
    campaign), afterwards only those with activity read (since the checkpoint, or on a
    recipient list whose count moved)."""
    return [r for r in recipients if first_read or r.actions or r.reached]


RELATED_PAGE = 200
"""Records per page of a Zoho related list."""


def read_people_one_by_one(wanted: int, recipients: int, *, first_read: bool) -> bool:
    """Whether the CRM statuses of ``wanted`` recipients cost fewer calls read record by
    record (one call each) than as the campaign's whole related list (a call per 200
    recipients). Zoho credits are the scarce resource (Z15), so a few new opens on a big
    campaign cost a few calls, not hundreds. The first read takes the whole list."""
    pages = -(-recipients // RELATED_PAGE)
    return not first_read and wanted < pages


def plan_members(
    recipients: Iterable[Recipient],
    links: Mapping[str, str],
    current: Mapping[str, str],
) -> MemberPlan:
    """Member Status writes. ``links``: email → CRM record id; ``current``: record id →
    the Member_Status the CRM holds for this campaign (absent: not a member yet)."""
    plan = MemberPlan()
    wanted: dict[str, tuple[str, str]] = {}
    for recipient in recipients:
        record_id = links.get(recipient.email)
        if not record_id:
            plan.unmatched.append(recipient.email)
            plan.skip(MemberSkip.NO_CRM_RECORD)
            continue
        status = recipient.status()
        held = wanted.get(record_id)
        if held is None or rank(status) > rank(held[1]):
            # Two addresses on one record (CRMID and email fallback): the further one wins.
            wanted[record_id] = (recipient.email, status)
    for record_id, (email, status) in wanted.items():
        if record_id not in current:
            plan.writes.append(MemberWrite(record_id, email, status, MemberReason.NEW_MEMBER))
        elif current[record_id] == status:
            plan.skip(MemberSkip.UNCHANGED)
        elif rank(status) <= rank(current[record_id]):
            plan.skip(MemberSkip.NOT_UPWARD)
        else:
            plan.writes.append(
                MemberWrite(record_id, email, status, MemberReason.STATUS_UP, current[record_id])
            )
    return plan


def record_id_from_link(value: str, module: str) -> str:
    """The record id in a member's ``CRMID`` (``Module:id``) when it names ``module``."""
    named, _, record_id = value.partition(":")
    return record_id if named == module and record_id.isdigit() else ""


def next_checkpoint(
    previous: datetime | None,
    recipients: Iterable[Recipient],
    failed_emails: Iterable[str],
    floor: datetime | None = None,
) -> datetime | None:
    """The latest activity read, but never at or past the earliest activity of a recipient
    whose write failed (read again next pass); never moves back. ``floor`` (the send time)
    is where a pass that confirmed every write but saw no activity leaves it, so the next
    read is incremental too."""
    failed = set(failed_emails)
    if floor is not None and not failed and (previous is None or floor > previous):
        previous = floor
    seen: list[datetime] = []
    blocked: list[datetime] = []
    for recipient in recipients:
        times = [a.timestamp for a in recipient.actions]
        seen.extend(times)
        if recipient.email in failed:
            blocked.extend(times)
    if failed and not blocked:
        return previous  # a recipient without activity failed (a first read): keep
    if blocked:
        limit = min(blocked)
        seen = [t for t in seen if t < limit]
    latest = max(seen, default=None)
    if latest is None:
        return previous
    return latest if previous is None or latest > previous else previous
