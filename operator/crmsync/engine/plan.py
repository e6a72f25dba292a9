"""The plan: desired (CRM records × settings) against observed (campaign members).

Pure: it reads values and returns actions, each with a reason. The same planner drives
a real run (the executor carries the actions out in vendor batches) and ``crmsync plan``
(which only prints them). Records stream through page by page; the observed members and
what the run claimed, saw and decided are kept in the containers the caller gives
(:mod:`crmsync.engine.runmemory`: in memory, or on disk for large runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping, MutableSet
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from crmsync.api.v1alpha1.contactsync import CrmDeleteAction, SubscriptionType, SyncMode
from crmsync.api.v1alpha1.optoutpolicy import CrmOptOutAction
from crmsync.engine.criteria import matches_all
from crmsync.engine.emails import is_valid_email
from crmsync.engine.fingerprint import changed_on_campaign_side, fingerprint
from crmsync.engine.mapping import mapped_values, to_campaign_text
from crmsync.engine.ownership import owners_in_tags
from crmsync.engine.records import (
    ACTIVE_STATUSES,
    CrmRecord,
    DeletedRecord,
    Member,
    MemberStatus,
    MemberWrite,
    normalise_email,
)
from crmsync.engine.runmemory import InMemory, RunMemory, in_key_order, keys_in_order
from crmsync.engine.settings import SyncSettings


class ActionKind(StrEnum):
    ADD = "add"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    UNSUBSCRIBE = "unsubscribe"
    REMOVE = "remove"
    SKIP_DUPLICATE = "skip_duplicate"
    SKIP_IGNORED = "skip_ignored"
    CRM_OPT_OUT = "crm_opt_out"
    """Set the CRM record's opt-out field: its member unsubscribed or was cleaned on the
    campaign side (Z17, one-way CRM → campaign; see ``SyncSettings.mirror_campaign_unsubscribes``)."""
    RELEASE = "release"
    """This sync no longer wants the member but another sync on the audience does: only
    this sync's claim goes, the member stays (:mod:`crmsync.engine.ownership`)."""


class Reason(StrEnum):
    NEW_RECORD = "new_record"
    FIELDS_CHANGED = "fields_changed"
    IN_SYNC = "in_sync"
    CREATE_ONLY = "create_only"
    MISSING_EMAIL = "missing_email"
    INVALID_EMAIL = "invalid_email"
    DUPLICATE_EMAIL = "duplicate_email"
    OPTED_OUT = "opted_out"
    OVER_PLAN_LIMIT = "over_plan_limit"
    NOT_IN_AUDIENCE = "not_in_audience"
    CONVERTED_LEAD = "converted_lead"
    LEFT_CRITERIA = "left_criteria"
    CRM_DELETED = "crm_deleted"
    NOT_IN_CRM = "not_in_crm"
    CAMPAIGN_CHANGED = "campaign_changed"
    """Two-way: the member changed on the campaign side after the campaign → CRM half read
    it; the next run reconciles it under the conflict policy instead of overwriting it."""
    CAMPAIGN_UNSUBSCRIBED = "campaign_unsubscribed"
    CAMPAIGN_CLEANED = "campaign_cleaned"
    NOT_WANTED = "not_wanted"
    """A full comparison found a member this sync claims but no longer syncs (its record is
    another module's, or outside what this sync reads)."""


SHARED_REMOVAL_REASONS = frozenset(
    {
        Reason.LEFT_CRITERIA,
        Reason.CONVERTED_LEAD,
        Reason.FIELDS_CHANGED,
        Reason.CRM_DELETED,
        Reason.NOT_IN_CRM,
    }
)
"""Removals decided by what this sync wants; another sync that wants the member keeps it.
A CRM opt-out (the person's choice) is not among them."""


CLAIM_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    email: str
    reason: Reason
    record_id: str = ""
    changes: tuple[FieldChange, ...] = ()
    write: MemberWrite | None = None
    permanent: bool = False
    """For REMOVE: delete permanently instead of archiving."""
    then: Action | None = None
    """For RELEASE: the removal to carry out after all if, once this sync's claim is gone,
    no other claim is left (another sync released it at the same time)."""


def _truthy(value: Any) -> bool:
    return to_campaign_text(value).lower() in {"true", "1", "yes", "y", "on"}


CONSENT_GIVEN = frozenset({"obtained", "consented", "consent - obtained"})
"""Zoho CRM's GDPR consent status (Data Processing Basis) meaning consent was given."""


def _consented(value: Any) -> bool:
    """A boolean consent field, or Zoho's consent status text ("Obtained")."""
    return _truthy(value) or to_campaign_text(value).lower() in CONSENT_GIVEN


@dataclass
class Planner:
    """Plans one run. Feed pages with :meth:`plan_records`, deletions with
    :meth:`plan_deletions`, then call :meth:`finish` once."""

    settings: SyncSettings
    observed: Mapping[str, Member]
    full: bool
    """A full comparison (every CRM record is fed): unclaimed members can be judged."""
    now: datetime | None = None
    backfill: bool = False
    """The mapping changed: compare every mapped field even if the record did not change."""
    memory: RunMemory = field(default_factory=InMemory)
    """Where what grows with the run's records is kept."""

    _claimed: MutableMapping[str, str] = field(init=False)
    """Email → the record key that claimed it in this run."""
    _seen_record_keys: MutableSet[str] = field(init=False)
    _leaving: MutableMapping[str, Action] = field(init=False)
    _decided: MutableSet[str] = field(init=False)
    """Emails decided besides those claimed (a deletion, what left): always asked with
    ``_claimed``, so a claim is not written twice."""
    _by_record_key: Mapping[str, str] = field(init=False)
    _marketing_members: int = -1

    def __post_init__(self) -> None:
        memory, link_field = self.memory, self.settings.record_id_field
        self.observed = memory.audience(self.observed, link_field)
        self._claimed = memory.strings("claimed")
        self._seen_record_keys = memory.keys("seen_record_keys")
        self._leaving = memory.objects("leaving", Action)
        self._decided = memory.keys("decided")
        self._by_record_key = memory.record_links(self.observed, link_field)
        if self.settings.contact_limit:  # a pass over the audience, only when it counts
            self._marketing_members = sum(
                1 for m in self.observed.values() if m.status in ACTIVE_STATUSES
            )

    # -- records -------------------------------------------------------------------------

    def taking_part(self) -> Iterable[str]:
        """Ids of the records whose member this run claimed (they take part), read when
        iterated (a record that claimed two emails comes twice)."""
        return _RecordIds(self._claimed)

    def seen(self, record_id: str) -> bool:
        """The record was planned in this run."""
        return self.settings.record_key(record_id) in self._seen_record_keys

    def plan_records(self, records: Iterable[CrmRecord]) -> list[Action]:
        return [a for r in records if (a := self._plan_record(r)) is not None]

    def _plan_record(self, record: CrmRecord) -> Action | None:
        s = self.settings
        key = s.record_key(record.id)
        self._seen_record_keys.add(key)
        if s.modified_after is not None and record.modified_time < s.modified_after:
            return None  # P1: only records created or modified after the date take part
        email = normalise_email(record.values.get(s.email_field))
        self._note_email_change(key, email, record.id)
        member = self.observed.get(email) if email else None
        # Records outside the criteria are not part of this sync at all: not even their
        # missing or invalid emails are counted.
        if not self._takes_part(record, email, member, key):
            return None
        if not email:
            return Action(ActionKind.SKIP_IGNORED, "", Reason.MISSING_EMAIL, record.id)
        if not is_valid_email(record.values.get(s.email_field), s.address_rules):
            return Action(ActionKind.SKIP_IGNORED, email, Reason.INVALID_EMAIL, record.id)
        claimed = self._claimed.get(email)
        if claimed == key:
            return (
                None  # the same record read again (edited while the run pages by modification time)
            )
        if claimed is not None or self._held_by_other_record(member, key):
            return Action(ActionKind.SKIP_DUPLICATE, email, Reason.DUPLICATE_EMAIL, record.id)
        self._claimed[email] = key
        self._leaving.pop(email, None)

        if _truthy(record.values.get(s.policy.opt_out_field)):
            return self._plan_opted_out(email, record, member)
        if member is not None and self._opted_out_on_campaign_side(member, key):
            # Z17: the CRM learns it instead of the member getting field updates this run
            # (nothing ever re-subscribes it). A member the operator itself took off the
            # list is marked so (record index) and never gets here; a record opted out in
            # the CRM is opted out already (README: a CRM user clearing that opt-out while
            # the member stays unsubscribed sees it set again).
            cleaned = member.status == MemberStatus.CLEANED
            reason = Reason.CAMPAIGN_CLEANED if cleaned else Reason.CAMPAIGN_UNSUBSCRIBED
            opt_out_field = s.policy.opt_out_field
            old = to_campaign_text(record.values.get(opt_out_field))
            change = FieldChange(f"CRM {opt_out_field}", old, "true")
            return Action(ActionKind.CRM_OPT_OUT, email, reason, record.id, (change,))
        if member is None:
            return self._plan_new(email, record)
        if s.sync_mode == SyncMode.CREATE_ONLY:
            return Action(ActionKind.UNCHANGED, email, Reason.CREATE_ONLY, record.id)
        return self._plan_existing(email, record, member)

    def _note_email_change(self, key: str, email: str, record_id: str) -> None:
        """A record whose email changed leaves its old member (unless another record claims it)."""
        linked_email = self._by_record_key.get(key)
        if linked_email and linked_email != email and linked_email not in self._claimed:
            self._leaving.setdefault(
                linked_email, self._removal(linked_email, record_id, Reason.FIELDS_CHANGED)
            )

    def _takes_part(self, record: CrmRecord, email: str, member: Member | None, key: str) -> bool:
        """Converted leads (Z9) and records outside the criteria (B3) do not take part; if
        this sync put them in the audience, they leave it."""
        s = self.settings
        linked = member is not None and self._ours(member, key)
        if record.converted and s.remove_converted_leads:
            if linked and member is not None and member.in_list:
                self._leaving.setdefault(
                    email, self._removal(email, record.id, Reason.CONVERTED_LEAD)
                )
            return False
        if not matches_all(s.criteria, record.values):
            if linked:
                self._leaving.setdefault(
                    email, self._removal(email, record.id, Reason.LEFT_CRITERIA)
                )
            return False
        return True

    def _ours(self, member: Member, key: str) -> bool:
        """The member is this sync's to take out: linked to this record, or claimed by this
        sync (shared audiences: a sync only removes what it added, 14.1). Without claims
        (no owner: a plan outside the operator), a member without a record link belongs to
        the record with its email, as identity is the email."""
        link = self.settings.record_id_field
        if member.values.get(link, "") == key:
            return True
        if self.settings.owner:
            return self.settings.owner in self.owners(member)
        return member.values.get(link, "") == ""

    def _opted_out_on_campaign_side(self, member: Member, key: str) -> bool:
        """The member (linked to this record, or unlinked with its email) unsubscribed or
        was cleaned, and the policy carries that to the CRM in this flow."""
        s = self.settings
        return (
            s.mirror_campaign_unsubscribes
            and not member.removed_by_sync
            and s.campaign_opts_out(member.status)
            and member.values.get(s.record_id_field, "") in ("", key)
        )

    def campaign_opt_out_candidates(self, since: datetime) -> list[str]:
        """Incremental runs: ids of this module's CRM records whose linked member
        unsubscribed or was cleaned at or after ``since`` (the member's ``last_changed``;
        targets that give none, Zoho Campaigns, are judged on full comparisons only). The
        caller reads those records and plans them like the others."""
        s = self.settings
        if not s.mirror_campaign_unsubscribes:
            return []
        # Mailchimp's last_changed has whole seconds: compare at that precision, or a
        # change in the same second as the checkpoint would be lost.
        since = since.replace(microsecond=0)
        prefix = f"{s.module}:"
        ids: list[str] = []
        for member in self.observed.values():
            key = member.values.get(s.record_id_field, "")
            if (
                key.startswith(prefix)
                and s.campaign_opts_out(member.status)
                and member.last_changed is not None
                and member.last_changed >= since
            ):
                ids.append(key[len(prefix) :])
        return sorted(set(ids), key=lambda i: (len(i), i))

    def _held_by_other_record(self, member: Member | None, key: str) -> bool:
        """Incremental runs see few records: a member linked to another record is that
        record's, and this one is the duplicate. Full runs decide by first claim."""
        if self.full or member is None:
            return False
        link = member.values.get(self.settings.record_id_field, "")
        return link not in ("", key) and link.startswith(f"{self.settings.module}:")

    def _desired_values(self, record: CrmRecord, member: Member | None = None) -> dict[str, str]:
        values = mapped_values(record, self.settings.mapping)
        if not self._linked_to_other_sync(member):
            values[self.settings.record_id_field] = self.settings.record_key(record.id)
        return values

    def _linked_to_other_sync(self, member: Member | None) -> bool:
        """A shared member keeps the link of the other sync's record (another module's):
        rewriting it in turn from each sync would update it on every run."""
        if member is None or not (self.owners(member) - {self.settings.owner}):
            return False
        link = member.values.get(self.settings.record_id_field, "")
        return bool(link) and not link.startswith(f"{self.settings.module}:")

    def owners(self, member: Member) -> frozenset[str]:
        """The syncs that claim the member (its claim tags and what the caller knew)."""
        if self.settings.owner_tagged:
            return member.owners | owners_in_tags(member.tags)
        return member.owners

    def _consent(self, record: CrmRecord) -> bool | None:
        consent = self.settings.policy.consent
        if not consent.gdpr:
            return None
        if consent.update_consent_from_crm and consent.consent_field:
            return _consented(record.values.get(consent.consent_field))
        return None

    def _status_if_new(self, record: CrmRecord) -> MemberStatus:
        """Z5/Z6: marketing only when the sync says so and, when consent comes from the
        CRM, the record consented; otherwise non-marketing."""
        if self.settings.subscription_type == SubscriptionType.NON_MARKETING:
            return MemberStatus.NON_MARKETING
        if self._consent(record) is False:
            return MemberStatus.NON_MARKETING
        return MemberStatus.SUBSCRIBED

    def _plan_new(self, email: str, record: CrmRecord) -> Action:
        s = self.settings
        if s.sync_mode == SyncMode.UPDATE_ONLY:
            return Action(ActionKind.SKIP_IGNORED, email, Reason.NOT_IN_AUDIENCE, record.id)
        status = self._status_if_new(record)
        if status == MemberStatus.SUBSCRIBED and s.contact_limit:
            if self._marketing_members >= s.contact_limit:
                return Action(ActionKind.SKIP_IGNORED, email, Reason.OVER_PLAN_LIMIT, record.id)
            self._marketing_members += 1
        values = {k: v for k, v in self._desired_values(record).items() if v != ""}
        if s.fingerprint_field:
            values[s.fingerprint_field] = fingerprint(s, email, values)
        write = MemberWrite(
            email=email,
            values=values,
            status_if_new=status,
            tags=s.member_tags,
            consent=self._consent(record),
            legal_basis=str(s.policy.consent.legal_basis) if s.policy.consent.gdpr else None,
            topics=frozenset({s.topic_id}) if s.topic_id else frozenset(),
        )
        changes = tuple(FieldChange(k, "", v) for k, v in sorted(values.items()))
        return Action(ActionKind.ADD, email, Reason.NEW_RECORD, record.id, changes, write)

    def _plan_existing(self, email: str, record: CrmRecord, member: Member) -> Action:
        s = self.settings
        if changed_on_campaign_side(s, member):
            return Action(ActionKind.UNCHANGED, email, Reason.CAMPAIGN_CHANGED, record.id)
        changes: list[FieldChange] = []
        for name, new in sorted(self._desired_values(record, member).items()):
            old = member.values.get(name, "")
            if new == old or (new == "" and not s.update_empty_values):
                continue
            changes.append(FieldChange(name, old, new))
        if s.fingerprint_field and changes:
            after = {**member.values, **{c.field: c.new for c in changes}}
            new_fingerprint = fingerprint(s, email, after)
            old_fingerprint = member.values.get(s.fingerprint_field, "")
            changes.append(FieldChange(s.fingerprint_field, old_fingerprint, new_fingerprint))
        missing_tags = s.member_tags - member.tags
        if not changes and not missing_tags:
            return Action(ActionKind.UNCHANGED, email, Reason.IN_SYNC, record.id)
        write = MemberWrite(
            email=email,
            values={c.field: c.new for c in changes},
            status_if_new=member.status,
            tags=frozenset(missing_tags),
        )
        return Action(
            ActionKind.UPDATE, email, Reason.FIELDS_CHANGED, record.id, tuple(changes), write
        )

    def _plan_opted_out(self, email: str, record: CrmRecord, member: Member | None) -> Action:
        action = self.settings.policy.crm_opt_out
        if member is None or action == CrmOptOutAction.EXCLUDE:
            return Action(ActionKind.SKIP_IGNORED, email, Reason.OPTED_OUT, record.id)
        if action == CrmOptOutAction.UNSUBSCRIBE:
            if member.status in ACTIVE_STATUSES:
                return Action(ActionKind.UNSUBSCRIBE, email, Reason.OPTED_OUT, record.id)
            return Action(ActionKind.SKIP_IGNORED, email, Reason.OPTED_OUT, record.id)
        return Action(ActionKind.REMOVE, email, Reason.OPTED_OUT, record.id)

    # -- deletions and what is left over ------------------------------------------------

    def _removal(self, email: str, record_id: str, reason: Reason) -> Action:
        return Action(ActionKind.REMOVE, email, reason, record_id)

    def _deletion(self, email: str, record_id: str) -> Action | None:
        on_delete = self.settings.on_crm_delete
        if on_delete == CrmDeleteAction.KEEP:
            return None
        if on_delete == CrmDeleteAction.UNSUBSCRIBE:
            member = self.observed.get(email)
            if member is None or member.status not in ACTIVE_STATUSES:
                return None
            return Action(ActionKind.UNSUBSCRIBE, email, Reason.CRM_DELETED, record_id)
        permanent = on_delete == CrmDeleteAction.DELETE_PERMANENTLY
        return Action(ActionKind.REMOVE, email, Reason.CRM_DELETED, record_id, permanent=permanent)

    def plan_deletions(self, deleted: Iterable[DeletedRecord]) -> list[Action]:
        """CRM deletions since the checkpoint (P5): their linked members go as declared."""
        actions = []
        for record in deleted:
            email = self._by_record_key.get(self.settings.record_key(record.id))
            if email is None or email in self._claimed or email in self._decided:
                continue
            self._decided.add(email)
            action = self._shared(self._deletion(email, record.id))
            if action is not None and self._removal_needed(action):
                actions.append(action)
        return actions

    def _may_be_claimed_soon(self, member: Member) -> bool:
        """A member nobody claims that changed moments ago may be another sync's, written
        but not yet tagged (Mailchimp's batch write takes no tags; the claim follows in the
        next call): left for a later run, when its claim shows."""
        changed = member.last_changed
        return self.now is not None and changed is not None and self.now - changed < CLAIM_GRACE

    def _shared(self, action: Action | None) -> Action | None:
        """A removal of a member another sync claims becomes this sync's release of it
        (or nothing, when this sync holds no claim to drop)."""
        s = self.settings
        if action is None or not s.owner or action.reason not in SHARED_REMOVAL_REASONS:
            return action
        member = self.observed.get(action.email)
        if member is None:
            return action
        owners = self.owners(member)
        if not owners and self._may_be_claimed_soon(member):
            return None
        if not owners - {s.owner}:
            return action
        if s.owner not in owners:
            return None
        return Action(
            ActionKind.RELEASE, action.email, action.reason, action.record_id, then=action
        )

    def _removal_needed(self, action: Action) -> bool:
        """Where removing only takes a member off the list (Zoho Campaigns), a member
        already off it is left alone: removed again it would count as deleted on every
        full comparison."""
        if action.kind == ActionKind.RELEASE:
            return True
        if action.kind != ActionKind.REMOVE or action.permanent:
            return True
        if not self.settings.removal_leaves_list:
            return True
        member = self.observed.get(action.email)
        return member is not None and member.status in ACTIVE_STATUSES

    def unread_links(self) -> tuple[list[str], list[str]]:
        """After a full read narrowed by the criteria (push-down): the ids of this module's
        records linked to members no record claimed, and the emails of unlinked members
        no record claimed. A whole read would have fed those records (outside the criteria,
        deleted, or holding the email): read and fed too, they get what it gives them."""
        s = self.settings
        prefix = f"{s.module}:"
        ids: list[str] = []
        emails: list[str] = []
        for email, member in in_key_order(self.observed):
            if email in self._claimed or email in self._decided or email in self._leaving:
                continue
            key = member.values.get(s.record_id_field, "")
            if key.startswith(prefix) and key not in self._seen_record_keys:
                ids.append(key[len(prefix) :])
            elif key == "" or (s.owner and s.owner in self.owners(member)):
                emails.append(email)
        return ids, emails

    def finish(self) -> list[Action]:
        """Members that left (criteria, conversion, email change) and, in a full run, members
        whose CRM record is gone (or, in Mirror mode, that no CRM record holds)."""
        actions = [
            shared
            for email, a in in_key_order(self._leaving)
            if email not in self._claimed
            and (shared := self._shared(a)) is not None
            and self._removal_needed(shared)
        ]
        for email in self._leaving:
            self._decided.add(email)
        if not self.full:
            return actions
        s = self.settings
        for email in keys_in_order(self.observed):
            if email in self._claimed or email in self._decided:
                continue
            member = self.observed[email]
            key = member.values.get(s.record_id_field, "")
            action: Action | None = None
            if key.startswith(f"{s.module}:") and key not in self._seen_record_keys:
                action = self._shared(self._deletion(email, key.partition(":")[2]))
            elif s.sync_mode == SyncMode.MIRROR and member.status != MemberStatus.ARCHIVED:
                action = self._shared(self._removal(email, "", Reason.NOT_IN_CRM))
            elif s.owner and s.owner in self.owners(member):
                action = Action(ActionKind.RELEASE, email, Reason.NOT_WANTED)
            if action is not None and self._removal_needed(action):
                actions.append(action)
        return actions


@dataclass(frozen=True)
class _RecordIds:
    """The record ids in the keys of a run's claims, read when iterated."""

    claims: Mapping[str, str]

    def __iter__(self) -> Iterator[str]:
        return (key.partition(":")[2] for key in self.claims.values())
