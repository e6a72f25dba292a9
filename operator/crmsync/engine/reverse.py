"""The campaign → CRM half: members changed on the campaign side × their CRM records ×
the conflict and opt-out policies → CRM writes (and, for two-way syncs, the member values
that make both sides equal), each with what happened on the campaign side.

Pure, like :mod:`crmsync.engine.plan`: it reads values and returns decisions.

Rules (README "Direction, conflicts and subscription status"):

- A member is found in the CRM by the record its ``CRMID`` field names, else by email. A
  member naming a record that no longer exists is skipped (a CRM deletion is never undone
  by re-creating the record); a member of another module's sync is skipped too.
- No record: a new CRM record with the member's email and mapped values (and the opt-out
  field set when the member is unsubscribed or cleaned, as the policy says); fields that
  ``equals``/``in`` criteria name get the (first) value, so the new record takes part.
- A record: per mapped field whose values differ. CrmWins never changes a non-empty CRM
  value (the member gets the CRM's). Otherwise a field only one side changed since the
  last sync takes that side's value (two-way syncs know it from the member's
  fingerprint); a field both changed goes to the campaign (CampaignWins) or to the side
  modified last (NewestWins). Unless ``updateEmptyValues``, an empty value
  never clears the other side; it is filled from it instead. An email changed on the
  campaign side (Mailchimp ``upemail``) moves the CRM record's email.
- Subscription status is not a mapped field: unsubscribed sets the CRM opt-out field
  (``campaignUnsubscribe: SetCrmOptOut``), cleaned sets it too (``markCleanedInCrm``), and
  a person who opted in again after the CRM record last changed clears it. Nothing here
  ever changes a member's status.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from crmsync.api.v1alpha1.contactsync import ConflictPolicy, CriterionOperator
from crmsync.api.v1alpha1.fieldmapping import FieldPair, RelatedRecord
from crmsync.api.v1alpha1.optoutpolicy import CampaignUnsubscribeAction
from crmsync.engine.fingerprint import (
    EMAIL,
    campaign_changes,
    equals_last_synced,
    fingerprint,
)
from crmsync.engine.mapping import to_campaign_text
from crmsync.engine.records import CrmRecord, Member, MemberStatus, normalise_email
from crmsync.engine.settings import SyncSettings

TRUTHY = frozenset({"true", "1", "yes", "y", "on"})
NUMBER_TYPES = frozenset({"double", "decimal", "currency", "percent"})
INTEGER_TYPES = frozenset({"integer", "bigint"})
ACTIVE = frozenset({MemberStatus.SUBSCRIBED, MemberStatus.PENDING})
CRITERIA_TO_FILL = frozenset({CriterionOperator.EQUALS, CriterionOperator.IN})


class CampaignChange(StrEnum):
    """What happened on the campaign side, as the CRM learns it (M11 notifications)."""

    NEW_SUBSCRIBER = "new_subscriber"
    UNSUBSCRIBED = "unsubscribed"
    CLEANED = "cleaned"
    RESUBSCRIBED = "resubscribed"
    PROFILE_UPDATED = "profile_updated"
    EMAIL_CHANGED = "email_changed"


class ReverseSkip(StrEnum):
    CRM_RECORD_DELETED = "crm_record_deleted"
    OTHER_MODULE = "linked_to_other_module"


class Side(StrEnum):
    CRM = "crm"
    CAMPAIGN = "campaign"


@dataclass(frozen=True)
class Edit:
    """Which sides changed a field since the last sync."""

    campaign: bool
    crm: bool


@dataclass(frozen=True)
class CrmWrite:
    """One member's outcome: CRM values to write (a new record when ``record_id`` is
    empty), member values to write back (two-way merge, link and fingerprint), and what
    happened on the campaign side."""

    member: Member
    record_id: str
    crm_values: Mapping[str, Any] = field(default_factory=dict)
    member_values: Mapping[str, str] = field(default_factory=dict)
    changes: tuple[CampaignChange, ...] = ()
    skip: ReverseSkip | None = None
    created: bool = False
    """Set once the CRM created the record (``record_id`` is then its new id)."""

    @property
    def creates(self) -> bool:
        return not self.record_id and self.skip is None

    @property
    def email(self) -> str:
        return self.member.email


def _truthy(value: Any) -> bool:
    return to_campaign_text(value).lower() in TRUTHY


def crm_value(text: str, data_type: str) -> Any:
    """A campaign value as the CRM field of that type takes it; empty text clears it."""
    if text == "":
        return None
    if data_type == "boolean":
        return text.lower() in TRUTHY
    try:
        if data_type in INTEGER_TYPES:
            return int(text)
        if data_type in NUMBER_TYPES:
            return float(text)
    except ValueError:
        return text  # the CRM refuses it with a reason, counted per record
    return text


@dataclass
class ReversePlanner:
    """Plans the campaign → CRM half of one run, member by member."""

    settings: SyncSettings
    field_types: Mapping[str, str]
    """CRM field API name → data type, for converting campaign text."""

    @property
    def pairs(self) -> list[FieldPair]:
        """Only the module's own fields flow back; related Account/Deal fields are CRM → campaign."""
        return [p for p in self.settings.mapping if p.related == RelatedRecord.RECORD]

    @property
    def two_way(self) -> bool:
        return self.settings.crm_to_campaign

    def record_key(self, member: Member) -> str:
        return member.values.get(self.settings.record_id_field, "")

    def linked_record_id(self, member: Member) -> str:
        """The id of the record this sync's module holds for the member ("" when none)."""
        module, _, record_id = self.record_key(member).partition(":")
        return record_id if module == self.settings.module else ""

    def plan(self, member: Member, record: CrmRecord | None) -> CrmWrite:
        key = self.record_key(member)
        if key and not key.startswith(f"{self.settings.module}:"):
            return CrmWrite(member, "", skip=ReverseSkip.OTHER_MODULE)
        if record is None:
            if key:
                return CrmWrite(member, key.partition(":")[2], skip=ReverseSkip.CRM_RECORD_DELETED)
            return self._plan_create(member)
        return self._plan_update(member, record)

    # -- new CRM records -----------------------------------------------------------------

    def _plan_create(self, member: Member) -> CrmWrite:
        s = self.settings
        values: dict[str, Any] = {s.email_field: member.email}
        for pair in self.pairs:
            text = member.values.get(pair.campaign_field, "")
            if text:
                values[pair.crm_field] = crm_value(text, self.field_types.get(pair.crm_field, ""))
        for criterion in s.criteria:
            # A subscriber created for this sync must take part in it (else the CRM →
            # campaign half would remove the member for having "left the criteria").
            if criterion.operator in CRITERIA_TO_FILL and criterion.values:
                data_type = self.field_types.get(criterion.field, "")
                values[criterion.field] = crm_value(criterion.values[0], data_type)
        changes = [CampaignChange.NEW_SUBSCRIBER] if member.status in ACTIVE else []
        if self._opts_out(member):
            values[s.policy.opt_out_field] = True
        link = {s.record_id_field: ""}  # the executor fills in the new record's key
        if s.fingerprint_field:
            link[s.fingerprint_field] = fingerprint(s, member.email, member.values)
        return CrmWrite(member, "", values, link, tuple(changes))

    def _opts_out(self, member: Member) -> bool:
        return self.settings.campaign_opts_out(member.status)

    # -- existing CRM records ------------------------------------------------------------

    def _plan_update(self, member: Member, record: CrmRecord) -> CrmWrite:
        s = self.settings
        crm_values: dict[str, Any] = {}
        changes: list[CampaignChange] = []
        status_change = self._status_change(member, record)
        if status_change is not None:
            change, opted_out = status_change
            crm_values[s.policy.opt_out_field] = opted_out
            changes.append(change)

        member_values: dict[str, str] = {}
        # One-way: every member read changed on the campaign side; two-way: the fingerprint
        # says which fields did (None: unknown, every differing field is a conflict).
        changed = campaign_changes(s, member) if self.two_way else None
        for pair in self.pairs:
            crm_text = to_campaign_text(record.values.get(pair.crm_field))
            campaign_text = member.values.get(pair.campaign_field, "")
            if crm_text == campaign_text:
                continue
            edit = Edit(
                campaign=changed is None or pair.campaign_field in changed,
                crm=changed is None
                or not equals_last_synced(s, member, pair.campaign_field, crm_text),
            )
            if self._winner(campaign_text, crm_text, edit, member, record) == Side.CAMPAIGN:
                data_type = self.field_types.get(pair.crm_field, "")
                crm_values[pair.crm_field] = crm_value(campaign_text, data_type)
            elif self.two_way:
                member_values[pair.campaign_field] = crm_text
        if any(p.crm_field in crm_values for p in self.pairs):
            changes.append(CampaignChange.PROFILE_UPDATED)
        email_moved = changed is None or EMAIL in changed
        if email_moved and normalise_email(record.values.get(s.email_field)) != member.email:
            crm_values[s.email_field] = member.email
            changes.append(CampaignChange.EMAIL_CHANGED)

        if self.two_way:
            member_values.update(self._link(member, record.id, member_values))
        elif self.record_key(member) != s.record_key(record.id):
            member_values[s.record_id_field] = s.record_key(record.id)
        return CrmWrite(member, record.id, crm_values, member_values, tuple(changes))

    def _status_change(
        self, member: Member, record: CrmRecord
    ) -> tuple[CampaignChange, bool] | None:
        """The opt-out field value the member's status calls for, if it differs."""
        policy = self.settings.policy
        opted_out = _truthy(record.values.get(policy.opt_out_field))
        if not opted_out and self._opts_out(member):
            cleaned = member.status == MemberStatus.CLEANED
            return (CampaignChange.CLEANED if cleaned else CampaignChange.UNSUBSCRIBED), True
        mirrors = policy.campaign_unsubscribe == CampaignUnsubscribeAction.SET_CRM_OPT_OUT
        if (
            opted_out
            and mirrors
            and member.status == MemberStatus.SUBSCRIBED
            and member.opted_in_at is not None
            and member.opted_in_at > record.modified_time
        ):
            # The person opted in again after the CRM last changed the record; a CRM
            # opt-out made later than that wins and unsubscribes the member instead.
            return CampaignChange.RESUBSCRIBED, False
        return None

    def _winner(
        self, campaign: str, crm: str, edit: Edit, member: Member, record: CrmRecord
    ) -> Side:
        """Which side's value of a field both sides hold differently ends up on both."""
        s = self.settings
        if not s.update_empty_values:
            if campaign == "":
                return Side.CRM  # an empty value never clears the other side
            if crm == "":
                return Side.CAMPAIGN  # it fills it: nothing is overwritten
        policy = s.conflict_policy
        if policy == ConflictPolicy.CRM_WINS:
            return Side.CRM  # existing CRM values are never overwritten (seed 002)
        if not edit.campaign:
            return Side.CRM  # only the CRM changed it since the last sync
        if not edit.crm:
            return Side.CAMPAIGN  # only the campaign changed it
        if policy == ConflictPolicy.CAMPAIGN_WINS:
            return Side.CAMPAIGN
        if policy == ConflictPolicy.NEWEST_WINS:
            changed = member.last_changed
            return Side.CAMPAIGN if changed and changed > record.modified_time else Side.CRM
        return Side.CRM

    def _link(
        self, member: Member, record_id: str, member_values: Mapping[str, str]
    ) -> dict[str, str]:
        """Two-way: the link and the fingerprint of the values the member holds after the
        write, so this run's writes read as clean next time."""
        s = self.settings
        link: dict[str, str] = {}
        key = s.record_key(record_id)
        if self.record_key(member) != key:
            link[s.record_id_field] = key
        after = {**member.values, **member_values}
        new_fingerprint = fingerprint(s, member.email, after)
        if member.values.get(s.fingerprint_field, "") != new_fingerprint:
            link[s.fingerprint_field] = new_fingerprint
        return link


@dataclass
class ReverseTally:
    """What the campaign → CRM half did in one run."""

    members_read: int = 0
    crm_created: int = 0
    crm_updated: int = 0
    crm_opted_out: int = 0
    members_updated: int = 0
    skipped: int = 0
    failed: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    changes: Counter[CampaignChange] = field(default_factory=Counter)
    examples: dict[CampaignChange, list[str]] = field(default_factory=dict)
    """A few emails per kind of change, for the notification events."""
    oldest_failure: datetime | None = None
    """last_changed of the oldest member whose write failed: the checkpoint stays there."""

    def note_failure(self, member: Member, reason: str) -> None:
        self.failed += 1
        self.by_reason[reason] += 1
        changed = member.last_changed
        if changed is not None and (self.oldest_failure is None or changed < self.oldest_failure):
            self.oldest_failure = changed

    def note_done(self, write: CrmWrite, opt_out_field: str, examples: int) -> None:
        if write.created:
            self.crm_created += 1
        elif write.crm_values:
            self.crm_updated += 1
        if write.crm_values.get(opt_out_field) is True:
            self.crm_opted_out += 1
        for change in write.changes:
            self.note_change(change, write.email, examples)

    def note_change(self, change: CampaignChange, email: str, examples: int) -> None:
        """One campaign-side change carried to the CRM (for the M11 notifications)."""
        self.changes[change] += 1
        shown = self.examples.setdefault(change, [])
        if len(shown) < examples:
            shown.append(email)


NOTIFICATION_REASONS: dict[CampaignChange, tuple[str, str]] = {
    CampaignChange.NEW_SUBSCRIBER: ("NewSubscriber", "new subscriber(s)"),
    CampaignChange.UNSUBSCRIBED: ("Unsubscribed", "unsubscribe(s)"),
    CampaignChange.CLEANED: ("Cleaned", "cleaned (hard-bounced) address(es)"),
    CampaignChange.RESUBSCRIBED: ("Resubscribed", "re-subscription(s)"),
    CampaignChange.PROFILE_UPDATED: ("ProfileUpdated", "profile update(s)"),
    CampaignChange.EMAIL_CHANGED: ("EmailChanged", "email change(s)"),
}
MAX_SINGLE_NOTIFICATIONS = 5
"""More campaign-side changes than this in one run give one summary event instead."""


def campaign_notifications(tally: ReverseTally | None) -> list[tuple[str, str]]:
    """(reason, message) of the Kubernetes Events for campaign-side changes (M11): one per
    change when there are few, else one summary for the run."""
    if tally is None:
        return []
    total = sum(tally.changes.values())
    if total == 0:
        return []
    if total > MAX_SINGLE_NOTIFICATIONS:
        parts = [
            f"{tally.changes[kind]} {text}"
            for kind, (_, text) in NOTIFICATION_REASONS.items()
            if tally.changes[kind]
        ]
        return [("CampaignChanges", "from the campaign side: " + ", ".join(parts))]
    return [
        (reason, f"{text.split('(')[0].rstrip()} on the campaign side: {email}")
        for kind, (reason, text) in NOTIFICATION_REASONS.items()
        for email in tally.examples.get(kind, [])
    ]
