"""Campaign activity back into the CRM (Z16, C2, M10): the opt-in spec block of a
ContactSync (and of an EmailCampaign) and what status reports about the campaigns brought
back, from Mailchimp audiences and Zoho Campaigns lists alike."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from crmsync.api.v1alpha1._base import CrdModel
from crmsync.api.v1alpha1._types import Duration, DurationRange, Timestamp
from crmsync.api.v1alpha1.status import Count

MAX_TRACKED_CAMPAIGNS = 20
"""Campaigns a pass looks at (the latest sent to the audience) and status keeps."""


class CampaignActivitySpec(CrdModel):
    """Bring the results of campaigns sent to the synced audience or list back into the
    CRM: one record in the CRM Campaigns module per campaign with its summary, and each
    recipient's Member Status on the Campaigns related list of its lead or contact
    (Mailchimp audiences and Zoho Campaigns lists)."""

    enabled: bool = False
    """Opt in: off unless true."""
    since: Timestamp | None = None
    """Only campaigns sent at or after this time; absent: the latest 20 sent campaigns."""
    interval: Annotated[Duration, DurationRange("1m", "720h")] = "15m"
    """Least time between two passes after poll, notification and scheduled runs; a
    manual run (crmsync.dev/sync-now), the first run and a spec change always run one."""


class CampaignSummary(CrdModel):
    """A campaign's report as its provider counts it; opens and clicks are unique people."""

    sent: Count = 0
    """Emails sent."""
    delivered: Count = 0
    """Sent minus hard and soft bounces."""
    opens: Count = 0
    """Recipients who opened (unique opens)."""
    clicks: Count = 0
    """Recipients who clicked (unique clicks)."""
    hard_bounces: Count = 0
    """Permanent delivery failures."""
    soft_bounces: Count = 0
    """Temporary delivery failures."""
    unsubscribes: Count = 0
    """Recipients who unsubscribed through the campaign."""
    complaints: Count = 0
    """Abuse (spam) reports."""


class CampaignActivityRecord(CrdModel):
    """One campaign brought back into the CRM."""

    campaign_id: Annotated[str, Field(max_length=64)]
    """The Mailchimp campaign id or Zoho Campaigns campaign key."""
    crm_campaign_id: Annotated[str, Field(max_length=64)] = ""
    """The id of its record in the CRM Campaigns module."""
    title: Annotated[str, Field(max_length=256)] = ""
    """The campaign's name in the CRM (Mailchimp title or Zoho Campaigns name, else subject
    line)."""
    send_time: datetime | None = None
    """When it was sent."""
    activity_since: datetime | None = None
    """Checkpoint (Mailchimp): the latest activity the CRM confirmed; the next pass reads
    from here. Zoho Campaigns activity has no times: the summary's counts are its
    checkpoint."""
    recipients_written: bool = False
    """Every recipient was written once (at least Sent, or Bounced): the whole recipient
    list (Mailchimp sent-to, Zoho Campaigns sentcontacts) is read until then, and
    afterwards only activity."""
    summary: CampaignSummary = Field(default_factory=CampaignSummary)
    """The summary the CRM record holds."""
    members_updated: Count = 0
    """Member Status writes the CRM confirmed for this campaign, since it was first seen."""
    members_unmatched: Count = 0
    """Recipients of the last pass with no lead/contact of the synced module."""
    members_failed: Count = 0
    """Member Status writes of the last pass the CRM refused; read and tried again next pass."""


class CampaignActivityStatus(CrdModel):
    """What the last campaign-activity pass brought back."""

    last_pass_time: datetime | None = None
    """When the last pass ended (successful or not)."""
    outcome: Annotated[str, Field(max_length=32)] = ""
    """Succeeded or Failed."""
    message: Annotated[str, Field(max_length=4000)] = ""
    """What the last pass did, or why it failed (the sync run itself is not failed)."""
    campaigns: Annotated[list[CampaignActivityRecord], Field(max_length=MAX_TRACKED_CAMPAIGNS)] = (
        Field(default_factory=list)
    )
    """The campaigns tracked, latest sent first (at most 20)."""
