"""ContactSync: which CRM records sync to which audience, how, and when."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field, model_validator

from crmsync.api.v1alpha1._base import (
    Conditions,
    ConnectionRef,
    CrdModel,
    FieldName,
    KindInfo,
    LocalRef,
    PrinterColumn,
    Resource,
    defaulted,
)
from crmsync.api.v1alpha1._types import (
    TIME_ZONE_PATTERN,
    CalendarDate,
    Duration,
    DurationRange,
    Timestamp,
)
from crmsync.api.v1alpha1.activity import CampaignActivitySpec, CampaignActivityStatus
from crmsync.api.v1alpha1.carts import AbandonedCartsSpec, AbandonedCartsStatus
from crmsync.api.v1alpha1.fieldmapping import FieldPairs
from crmsync.api.v1alpha1.optoutpolicy import OptOutPolicySpec
from crmsync.api.v1alpha1.status import (
    AudienceView,
    AudienceWebhook,
    Checkpoint,
    NotificationChannel,
    Retry,
    RunSummary,
    SkippedExport,
    SyncCounts,
)


class CriterionOperator(StrEnum):
    EQUALS = "equals"
    NOT_EQUAL = "not_equal"
    STARTS_WITH = "starts_with"
    IN = "in"
    GREATER_THAN = "greater_than"
    LESS_THAN = "less_than"
    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"


class Criterion(CrdModel):
    """One condition on a CRM field; a record takes part when all criteria hold (B3, Z14)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.operator in ['is_empty', 'is_not_empty'] || "
                    "(has(self.values) && size(self.values) > 0)",
                    "message": "this operator needs at least one value",
                    "fieldPath": ".values",
                },
                {
                    "rule": "self.operator == 'in' || !has(self.values) || size(self.values) <= 1",
                    "message": "only the 'in' operator takes several values",
                    "fieldPath": ".values",
                },
                {
                    "rule": "!(self.operator in ['is_empty', 'is_not_empty']) || !has(self.values)",
                    "message": "is_empty and is_not_empty take no values",
                    "fieldPath": ".values",
                },
            ]
        }
    )

    field: FieldName
    """API name of the CRM field."""
    operator: CriterionOperator
    """equals, not_equal, starts_with, in, greater_than, less_than, is_empty, is_not_empty."""
    values: (
        Annotated[list[Annotated[str, Field(max_length=1024)]], Field(max_length=100)] | None
    ) = None
    """The value(s) compared against, as text."""

    @model_validator(mode="after")
    def _values_fit_the_operator(self) -> Criterion:
        """The CEL rules above, for objects read by the operator (a stored object predating
        a rule, or one that never met the API server)."""
        takes_none = self.operator in (CriterionOperator.IS_EMPTY, CriterionOperator.IS_NOT_EMPTY)
        if takes_none and self.values:
            raise ValueError("is_empty and is_not_empty take no values")
        if not takes_none and not self.values:
            raise ValueError("this operator needs at least one value")
        if self.operator != CriterionOperator.IN and self.values and len(self.values) > 1:
            raise ValueError("only the 'in' operator takes several values")
        return self


class CrmSource(CrdModel):
    """The CRM side: which module, which records."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.module == oldSelf.module",
                    "message": "spec.crm.module is immutable; create a new ContactSync",
                    "fieldPath": ".module",
                },
            ]
        }
    )

    connection_ref: ConnectionRef
    """A Connection with provider zoho-crm."""
    module: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]
    """API name of the CRM module: Leads, Contacts, or a custom module with an email field (Z1)."""
    email_field: FieldName = "Email"
    """The module's email field: the sync key (trimmed and lower-cased)."""
    criteria: Annotated[list[Criterion], Field(max_length=20)] | None = None
    """Only records matching all criteria take part; a record that stops matching leaves
    the audience (B3, P3). Absent: every record of the module (Z1)."""
    modified_after: Timestamp | None = None
    """Only records created or modified after this time take part (P1)."""


class CampaignTarget(CrdModel):
    """The campaign side: account, list or audience, topic, tags."""

    connection_ref: ConnectionRef
    """A Connection with provider zoho-campaigns or mailchimp."""
    list_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """Zoho Campaigns mailing list key (optional: every contact is in All Contacts, Z4) or
    Mailchimp audience id (required for Mailchimp)."""
    topic_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    """Zoho Campaigns topic for the contacts (Z4)."""
    tags: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=20)
    ] = Field(default_factory=list)
    """Tags given to every synced member (Mailchimp tags, M8)."""
    abandoned_carts: AbandonedCartsSpec | None = None
    """Mailchimp: abandoned carts of an e-commerce store become CRM Deals (M5): opt in."""


class FlowType(StrEnum):
    ONE_WAY = "OneWay"
    TWO_WAY = "TwoWay"


class FlowDirection(StrEnum):
    CRM_TO_CAMPAIGN = "CrmToCampaign"
    CAMPAIGN_TO_CRM = "CampaignToCrm"


class ConflictPolicy(StrEnum):
    CRM_WINS = "CrmWins"
    CAMPAIGN_WINS = "CampaignWins"
    NEWEST_WINS = "NewestWins"


class Flow(CrdModel):
    """One-way (with a direction) or two-way (M2)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.type != 'OneWay' || has(self.direction)",
                    "message": "a one-way sync needs flow.direction (CrmToCampaign or CampaignToCrm)",
                    "fieldPath": ".direction",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "self.type != 'TwoWay' || !has(self.direction)",
                    "message": "a two-way sync has no flow.direction",
                    "fieldPath": ".direction",
                },
            ]
        }
    )

    type: FlowType = FlowType.ONE_WAY
    """OneWay or TwoWay."""
    direction: FlowDirection | None = None
    """For OneWay: CrmToCampaign or CampaignToCrm."""
    conflict_policy: ConflictPolicy = ConflictPolicy.CRM_WINS
    """Two-way conflicts (M3): CrmWins (existing CRM values are not overwritten),
    CampaignWins, or NewestWins (by both sides' modification times)."""


class SyncMode(StrEnum):
    UPSERT = "Upsert"
    UPDATE_ONLY = "UpdateOnly"
    CREATE_ONLY = "CreateOnly"
    MIRROR = "Mirror"


class Frequency(StrEnum):
    ONCE = "Once"
    HOURLY = "Hourly"
    DAILY = "Daily"
    WEEKLY = "Weekly"
    MONTHLY = "Monthly"


class Weekday(StrEnum):
    MONDAY = "Monday"
    TUESDAY = "Tuesday"
    WEDNESDAY = "Wednesday"
    THURSDAY = "Thursday"
    FRIDAY = "Friday"
    SATURDAY = "Saturday"
    SUNDAY = "Sunday"


class Schedule(CrdModel):
    """A periodic or one-off run (P1, M4)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.frequency == 'Hourly' || has(self.at)",
                    "message": "this schedule needs a time: schedule.at (HH:MM)",
                    "fieldPath": ".at",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "self.frequency != 'Weekly' || has(self.dayOfWeek)",
                    "message": "a weekly schedule needs schedule.dayOfWeek",
                    "fieldPath": ".dayOfWeek",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "self.frequency != 'Monthly' || has(self.dayOfMonth)",
                    "message": "a monthly schedule needs schedule.dayOfMonth",
                    "fieldPath": ".dayOfMonth",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "self.frequency != 'Once' || has(self.date)",
                    "message": "a one-off schedule needs schedule.date (YYYY-MM-DD)",
                    "fieldPath": ".date",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "self.frequency != 'Hourly' || !has(self.at)",
                    "message": "an hourly schedule runs at schedule.minute past the hour; schedule.at is for the other frequencies",
                    "fieldPath": ".at",
                },
                {
                    "rule": "self.frequency == 'Hourly' || !has(self.minute)",
                    "message": "schedule.minute is only for Hourly schedules (the others use schedule.at)",
                    "fieldPath": ".minute",
                },
                {
                    "rule": "self.frequency == 'Weekly' || !has(self.dayOfWeek)",
                    "message": "schedule.dayOfWeek is only for Weekly schedules",
                    "fieldPath": ".dayOfWeek",
                },
                {
                    "rule": "self.frequency == 'Monthly' || !has(self.dayOfMonth)",
                    "message": "schedule.dayOfMonth is only for Monthly schedules",
                    "fieldPath": ".dayOfMonth",
                },
                {
                    "rule": "self.frequency == 'Once' || !has(self.date)",
                    "message": "schedule.date is only for Once schedules",
                    "fieldPath": ".date",
                },
            ]
        }
    )

    frequency: Frequency
    """Once, Hourly, Daily, Weekly or Monthly."""
    at: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None
    """Time of day, HH:MM (not for Hourly)."""
    minute: Annotated[int, Field(ge=0, le=59)] | None = None
    """Minute past the hour, for Hourly (absent: on the hour)."""
    day_of_week: Weekday | None = None
    """For Weekly."""
    day_of_month: Annotated[int, Field(ge=1, le=31)] | None = None
    """For Monthly; months without that day run on their last day."""
    date: CalendarDate | None = None
    """For Once: the date, YYYY-MM-DD (a day that exists, 2000–2199)."""
    time_zone: Annotated[str, Field(min_length=1, max_length=64, pattern=TIME_ZONE_PATTERN)] = "UTC"
    """IANA time zone of ``at`` (Europe/Madrid …); a zone the operator's time-zone database
    does not know makes the sync Ready=False (UnknownTimeZone)."""


class TriggerMode(StrEnum):
    INSTANT = "Instant"
    SCHEDULED = "Scheduled"
    MANUAL = "Manual"


class Trigger(CrdModel):
    """When runs happen (Z2, P1, P2, M4)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.mode != 'Scheduled' || has(self.schedule)",
                    "message": "a Scheduled trigger needs trigger.schedule",
                    "fieldPath": ".schedule",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "self.mode == 'Scheduled' || !has(self.schedule)",
                    "message": "trigger.schedule is only for mode Scheduled",
                    "fieldPath": ".schedule",
                },
            ]
        }
    )

    mode: TriggerMode = TriggerMode.INSTANT
    """Instant (CRM notifications plus polling fallback), Scheduled, or Manual (only
    the initial run and the sync-now annotation)."""
    poll_interval: Annotated[Duration, DurationRange("30s", "24h")] = "5m"
    """Instant mode: how often the modification-time poll catches lost notifications
    (30s to 24h)."""
    schedule: Schedule | None = None
    """For Scheduled."""
    full_resync_interval: Annotated[Duration, DurationRange("1h", "2160h")] = "24h"
    """How often the whole audience is compared with the CRM (drift detection,
    self-healing); 1h to 2160h (90 days)."""


class SubscriptionType(StrEnum):
    MARKETING = "Marketing"
    NON_MARKETING = "NonMarketing"


class CrmDeleteAction(StrEnum):
    KEEP = "Keep"
    ARCHIVE = "Archive"
    UNSUBSCRIBE = "Unsubscribe"
    DELETE_PERMANENTLY = "DeletePermanently"


class ContactSyncSpec(CrdModel):
    """The declared state: CRM records × audience × options."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.fieldMappingRef) && has(self.fieldMapping))",
                    "message": "use fieldMapping (inline) or fieldMappingRef, not both",
                    "fieldPath": ".fieldMappingRef",
                },
                {
                    "rule": "!(has(self.optOutPolicyRef) && has(self.optOutPolicy))",
                    "message": "use optOutPolicy (inline) or optOutPolicyRef, not both",
                    "fieldPath": ".optOutPolicyRef",
                },
                {
                    "rule": "!self.removeConvertedLeads || self.crm.module == 'Leads'",
                    "message": "removeConvertedLeads applies to the Leads module only",
                    "fieldPath": ".removeConvertedLeads",
                },
            ]
        }
    )

    crm: CrmSource
    """The CRM side."""
    target: CampaignTarget
    """The campaign side."""
    flow: Flow = defaulted(Flow, direction=FlowDirection.CRM_TO_CAMPAIGN)
    """One-way or two-way, and the conflict policy."""
    sync_mode: SyncMode = SyncMode.UPSERT
    """Upsert (add and update), UpdateOnly, CreateOnly, or Mirror (also remove members that
    are not, or no longer, among the CRM records)."""
    trigger: Trigger = defaulted(Trigger)
    """When runs happen."""
    field_mapping: FieldPairs | None = None
    """Inline field pairs (Email is always synced). Absent and no fieldMappingRef: the
    basic fields are pre-mapped (first name, last name, phone, company)."""
    field_mapping_ref: LocalRef | None = None
    """A FieldMapping in the same namespace, instead of inline pairs."""
    opt_out_policy: OptOutPolicySpec | None = None
    """Inline opt-out, consent and legal-basis policy."""
    opt_out_policy_ref: LocalRef | None = None
    """An OptOutPolicy in the same namespace, instead of inline."""
    subscription_type: SubscriptionType = SubscriptionType.MARKETING
    """Subscription type given to newly added contacts only; never overwritten (Z5)."""
    update_empty_values: bool = False
    """A mapped value cleared in the CRM is cleared on the campaign side too (Z7)."""
    on_crm_delete: CrmDeleteAction = CrmDeleteAction.ARCHIVE
    """A record deleted in the CRM: Keep the member, Archive it (default), Unsubscribe it,
    or DeletePermanently (opt-in: the address can never be re-added on Mailchimp) (P5)."""
    remove_converted_leads: bool = False
    """Leads module: a converted lead leaves the list (it stays in all contacts) (Z9, P4)."""
    backfill_on_mapping_change: bool = True
    """A mapping change rewrites existing members, not only records synced afterwards (B4)."""
    batch_size: Annotated[int, Field(ge=1, le=500)] | None = None
    """Records per write call; default: the vendor maximum (Mailchimp 500, Zoho Campaigns 10)."""
    suspend: bool = False
    """Pause: no runs while true; changes made meanwhile are synced on resume (Z11)."""
    campaign_activity: CampaignActivitySpec | None = None
    """Campaign results back into the CRM (Z16, C2, M10; Mailchimp audiences): opt in."""


class ContactSyncStatus(CrdModel):
    observed_generation: Annotated[int, Field(ge=0)] = 0
    """The metadata.generation the operator last read and judged (conditions)."""
    synced_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation the last run was made for: a newer one is synced in full
    (trigger SpecChange) by Instant and Poll syncs."""
    conditions: Conditions = Field(default_factory=list)
    """Ready (configuration and connections usable), Synced (last run succeeded),
    Suspended."""
    counts: SyncCounts = Field(default_factory=SyncCounts)
    """History since creation (Z12, P6)."""
    members: Annotated[int, Field(ge=0)] = 0
    """Members this sync holds on the campaign side now."""
    last_run: RunSummary | None = None
    """The latest run."""
    history: Annotated[list[RunSummary], Field(max_length=10)] = Field(default_factory=list)
    """The last runs, newest first (at most 10)."""
    checkpoint: Checkpoint = Field(default_factory=Checkpoint)
    """Where the next incremental run starts."""
    skipped_export: SkippedExport | None = None
    """Where the skipped records of the last run are (B8)."""
    next_run_time: datetime | None = None
    """When the next run is due: the schedule's next time, or the next poll or full
    comparison; absent for Manual syncs. A poll that finds nothing changed runs nothing and
    writes nothing (issue 14), so for a quiet sync this is one pollInterval after its last
    run and may lie in the past while the sync keeps polling."""
    retry: Retry | None = None
    """Set while failures repeat: the reason and when the loop tries again."""
    last_scheduled_time: datetime | None = None
    """The due time of the last scheduled run (so a due run is never started twice)."""
    last_handled_sync_now: Annotated[str, Field(max_length=64)] = ""
    """The value of the crmsync.dev/sync-now annotation last acted on."""
    notification_channel: NotificationChannel | None = None
    """Instant syncs: the CRM notification channel and when it expires."""
    audience: AudienceView | None = None
    """Mailchimp targets: the audience and its tags as of the last full comparison (M13)."""
    shard: Annotated[str, Field(max_length=40)] = ""
    """The ``crmsync.dev/shard`` of the operator instance handling this sync (absent or
    empty: the default instance, which handles the syncs without that label)."""
    audience_webhook: AudienceWebhook | None = None
    """Instant syncs that read the campaign side (Mailchimp): the list webhook that
    delivers campaign-side changes within seconds (polling stays the fallback)."""
    campaign_activity: CampaignActivityStatus | None = None
    """Campaigns whose activity was brought back into the CRM (spec.campaignActivity)."""
    abandoned_carts: AbandonedCartsStatus | None = None
    """Abandoned carts turned into CRM Deals (spec.target.abandonedCarts)."""


class ContactSync(Resource):
    """One sync between CRM records and a campaign audience."""

    kind_info: ClassVar[KindInfo] = KindInfo(
        kind="ContactSync",
        plural="contactsyncs",
        short_names=("csync",),
        printer_columns=(
            PrinterColumn("Module", ".spec.crm.module"),
            PrinterColumn("Flow", ".spec.flow.type"),
            PrinterColumn("Ready", ".status.conditions[?(@.type=='Ready')].status"),
            PrinterColumn("Synced", ".status.conditions[?(@.type=='Synced')].status"),
            PrinterColumn("Members", ".status.members", type="integer"),
            PrinterColumn("Added", ".status.counts.added", type="integer"),
            PrinterColumn("Updated", ".status.counts.updated", type="integer"),
            PrinterColumn("Skipped", ".status.counts.skippedIgnored", type="integer"),
            PrinterColumn("Last Run", ".status.lastRun.endTime", type="date"),
            PrinterColumn("Reason", ".status.conditions[?(@.type=='Synced')].reason", priority=1),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        ),
    )
    kind: str = "ContactSync"
    spec: ContactSyncSpec
    status: ContactSyncStatus | None = None
