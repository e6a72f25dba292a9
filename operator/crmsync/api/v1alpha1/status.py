"""Status shapes shared by the sync kinds: counts, run summaries, checkpoints."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from crmsync.api.v1alpha1._base import CrdModel

Count = Annotated[int, Field(ge=0)]


class SyncCounts(CrdModel):
    """How many records each outcome had (Z12, P6). Skipped = duplicate + ignored."""

    total: Count = 0
    """Records that took part (every CRM record considered)."""
    added: Count = 0
    """Members created on the campaign side."""
    updated: Count = 0
    """Members whose mapped fields changed."""
    unchanged: Count = 0
    """Members already equal to the CRM record."""
    unsubscribed: Count = 0
    """Members unsubscribed because of the opt-out policy."""
    deleted: Count = 0
    """Members archived or deleted (CRM delete, left the criteria, converted lead)."""
    released: Count = 0
    """Members this sync no longer wants that another sync on the same audience or list
    still claims: they stay, only this sync's claim was dropped (shared audiences)."""
    skipped_duplicate: Count = 0
    """Records whose normalised email another record of this sync already holds."""
    skipped_ignored: Count = 0
    """Records not synced for a reason (invalid email, opted out, over the plan limit …)."""
    failed: Count = 0
    """Records the target rejected; retried on the next run."""
    crm_created: Count = 0
    """CRM records created from campaign-side subscribers (campaign → CRM flows)."""
    crm_updated: Count = 0
    """CRM records given campaign-side values, an email change or a subscription status."""
    crm_opted_out: Count = 0
    """CRM records whose opt-out field was set because the member unsubscribed or was
    cleaned on the campaign side (OptOutPolicy)."""
    skipped_by_reason: dict[str, Count] = Field(default_factory=dict)
    """Skipped and failed records by reason (low-cardinality reason codes)."""


class RunOutcome(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    PARTIAL = "PartiallySucceeded"
    FAILED = "Failed"
    INTERRUPTED = "Interrupted"
    """The operator stopped (crash, kill, restart) during the run; the next run resumes it."""


class RunTrigger(StrEnum):
    INITIAL = "Initial"
    NOTIFICATION = "Notification"
    POLL = "Poll"
    SCHEDULE = "Schedule"
    MANUAL = "Manual"
    FULL_RESYNC = "FullResync"
    SPEC_CHANGE = "SpecChange"
    RESUMED = "Resumed"
    """A full run interrupted by an operator crash or restart, continued from its checkpoint."""


class RunSummary(CrdModel):
    """One run of a sync: why it ran, when, and what it did."""

    id: Annotated[str, Field(max_length=64)]
    """A unique run id: its start in UTC to the millisecond, then its trigger, so a later
    run's id sorts after an earlier one's (also the SyncRun/ConfigMap suffix of its
    skipped-record export)."""
    trigger: RunTrigger
    """What started the run."""
    start_time: datetime
    """When the run started."""
    end_time: datetime | None = None
    """When it ended; absent while running."""
    outcome: RunOutcome = RunOutcome.RUNNING
    """Running, Succeeded, PartiallySucceeded (some records failed) or Failed."""
    counts: SyncCounts = Field(default_factory=SyncCounts)
    """What this run did."""
    api_calls: Count = 0
    """HTTP requests made to the vendors during the run."""
    retries: Count = 0
    """Requests retried after 429/5xx/timeouts."""
    message: Annotated[str, Field(max_length=4096)] = ""
    """The error, when the run failed."""
    shard: Annotated[str, Field(max_length=40)] = ""
    """The ``crmsync.dev/shard`` of the operator instance that ran it (empty: the default
    instance, which handles the objects without that label)."""


MAX_FAILED_RECORD_IDS = 1000


class ResumePoint(CrdModel):
    """A full run in progress: what the target already confirmed (B5).

    Written after confirmed chunks; a run that was interrupted continues from here: the
    records up to this point are planned again (their members already hold the values, so
    nothing is written twice) but not counted again."""

    run_id: Annotated[str, Field(max_length=64)]
    """The interrupted run."""
    start_time: datetime
    """When the interrupted run started (the checkpoint it will write never passes it)."""
    after_modified_time: datetime | None = None
    """Records up to this modification time (and record id) were confirmed and counted."""
    after_record_id: Annotated[str, Field(max_length=64)] = ""
    """The last confirmed record at ``afterModifiedTime``."""
    resumed: Annotated[int, Field(ge=0)] = 0
    """How often the run was resumed after an interruption."""


class Checkpoint(CrdModel):
    """Where the next incremental run starts; written only after the target confirmed."""

    modified_since: datetime | None = None
    """CRM records modified at or after this time are read by the next incremental run."""
    deleted_since: datetime | None = None
    """CRM deletions at or after this time are read by the next incremental run."""
    last_full_sync_time: datetime | None = None
    """The last full comparison against what the target really holds (drift check)."""
    mapping_hash: Annotated[str, Field(max_length=64)] = ""
    """Hash of the field mapping the members were last written with (a change backfills)."""
    spec_hash: Annotated[str, Field(max_length=64)] = ""
    """Hash of the sync options the target was last reconciled with."""
    campaign_changed_since: datetime | None = None
    """Campaign → CRM flows: members changed at or after this time are read by the next
    incremental run (Mailchimp ``since_last_changed``)."""
    resume: ResumePoint | None = None
    """A full run that was interrupted continues from here."""
    failed_record_ids: Annotated[
        list[Annotated[str, Field(max_length=64)]], Field(max_length=MAX_FAILED_RECORD_IDS)
    ] = Field(default_factory=list)
    """CRM records the target rejected; read again by the next incremental run (bounded)."""
    pending_writes: Annotated[
        list[Annotated[str, Field(max_length=40)]], Field(max_length=20_000)
    ] = Field(default_factory=list)
    """Writes sent to the target whose answer a crash may have cut off (``kind:hash`` per
    member, never the address): the next run counts each of them once."""


class SkippedExport(CrdModel):
    """Where the skipped records of the last run are (B8)."""

    config_map: Annotated[str, Field(max_length=253)] = ""
    """ConfigMap holding ``skipped.csv`` (email, record id, reason)."""
    records: Count = 0
    """Rows in the export."""


class NotificationChannel(CrdModel):
    """The CRM notification channel an Instant sync is on (Z2): since 14.3 the one channel
    of its Connection and module, shared by every Instant sync there."""

    channel_id: Annotated[str, Field(max_length=32)]
    """The channel id (numeric) subscribed at the CRM."""
    expires_at: datetime
    """When the CRM stops delivering; renewed well before."""
    notify_url: Annotated[str, Field(max_length=2048)] = ""
    """Where the CRM delivers (the operator's webhook endpoint)."""
    token_secret: Annotated[str, Field(max_length=253)] = ""
    """The Secret holding the channel token (never in status)."""
    events: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=10)] = Field(
        default_factory=list
    )
    """What the channel is subscribed to: the module's changes, and the edits of the
    Accounts whose fields the mapping carries (Z3)."""
    connection: Annotated[str, Field(max_length=253)] = ""
    """The Connection holding the shared channel (empty: a per-sync channel from before
    14.3, unsubscribed by the next pass)."""


class SharedChannel(NotificationChannel):
    """One CRM notification channel of a Connection: every Instant sync on its module
    receives through it (events: the union of what they need)."""

    module: Annotated[str, Field(max_length=100)]
    """The CRM module whose syncs share the channel."""
    shard: Annotated[str, Field(max_length=40)] = ""
    """The operator shard (``crmsync.dev/shard``) whose syncs share it: each shard has its
    own endpoint, so its own channel (empty: the default instance)."""


class AudienceTag(CrdModel):
    name: Annotated[str, Field(max_length=100)]
    """The tag (a Mailchimp static segment)."""
    members: Annotated[int, Field(ge=0)] = 0
    """Members carrying it."""


class AudienceView(CrdModel):
    """The campaign-side audience as it was at the last full comparison (M13): what the
    Mailchimp extension shows in its Audiences and Segments/Tags modules."""

    list_id: Annotated[str, Field(max_length=128)]
    """The audience id."""
    name: Annotated[str, Field(max_length=200)] = ""
    """The audience's name."""
    subscribed: Annotated[int, Field(ge=0)] = 0
    """Subscribed members (all of the audience, not only this sync's)."""
    unsubscribed: Annotated[int, Field(ge=0)] = 0
    """Unsubscribed members."""
    cleaned: Annotated[int, Field(ge=0)] = 0
    """Cleaned (hard-bounced) members."""
    tags: Annotated[list[AudienceTag], Field(max_length=50)] = Field(default_factory=list)
    """The audience's tags with their member counts (at most 50, largest first)."""
    observed_at: datetime | None = None
    """When this was read."""


class AudienceWebhook(CrdModel):
    """The campaign-side webhook of an Instant sync that reads the campaign side (Mailchimp
    list webhooks: subscribe, unsubscribe, profile, upemail, cleaned, campaign)."""

    webhook_id: Annotated[str, Field(max_length=64)]
    """The webhook's id at the campaign platform."""
    list_id: Annotated[str, Field(max_length=128)]
    """The audience it is registered on."""
    notify_url: Annotated[str, Field(max_length=2048)] = ""
    """Where the platform delivers, with the secret path segment shown as ``…``."""
    token_secret: Annotated[str, Field(max_length=253)] = ""
    """The Secret holding the URL's secret segment (never in status)."""
    registered_at: datetime | None = None
    """When the operator registered it."""


class Retry(CrdModel):
    """Failing again and again (a spec the operator cannot carry out, references not
    usable, runs that fail): when the next try is, backing off exponentially with jitter."""

    reason: Annotated[str, Field(max_length=128)]
    """The CamelCase reason of the last failure (also the Ready or Synced condition's)."""
    message: Annotated[str, Field(max_length=1024)] = ""
    """What failed, naming the field when a spec value is the cause."""
    failures: Annotated[int, Field(ge=1)] = 1
    """Failures in a row at this generation."""
    generation: Annotated[int, Field(ge=0)] = 0
    """The metadata.generation that failed; a spec change tries again at once."""
    next_retry_time: datetime
    """When the next try is (sooner on a spec change or the sync-now annotation)."""
