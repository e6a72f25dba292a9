"""The resolved, immutable settings one sync run decides with.

Built from a ContactSync spec with its referenced FieldMapping and OptOutPolicy already
resolved, so the planner never looks anything up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from crmsync.api.v1alpha1.contactsync import (
    ConflictPolicy,
    ContactSyncSpec,
    Criterion,
    CrmDeleteAction,
    FlowDirection,
    FlowType,
    SubscriptionType,
    SyncMode,
)
from crmsync.api.v1alpha1.fieldmapping import FieldPair, RelatedRecord
from crmsync.api.v1alpha1.optoutpolicy import CampaignUnsubscribeAction, OptOutPolicySpec
from crmsync.engine.emails import ASCII_ONLY, AddressRules, rules_for
from crmsync.engine.records import MemberStatus
from crmsync.engine.related import related_source

# Pre-mapped when a sync declares no mapping (Z10 "basic fields pre-mapped").
BASIC_FIELDS_MAILCHIMP: tuple[FieldPair, ...] = (
    FieldPair(crm_field="First_Name", campaign_field="FNAME"),
    FieldPair(crm_field="Last_Name", campaign_field="LNAME"),
    FieldPair(crm_field="Phone", campaign_field="PHONE"),
)
BASIC_FIELDS_ZOHO_CAMPAIGNS: tuple[FieldPair, ...] = (
    FieldPair(crm_field="First_Name", campaign_field="First Name"),
    FieldPair(crm_field="Last_Name", campaign_field="Last Name"),
    FieldPair(crm_field="Phone", campaign_field="Phone"),
)

RECORD_ID_FIELD_MAILCHIMP = "CRMID"
RECORD_ID_FIELD_ZOHO_CAMPAIGNS = "CRM Record ID"
SYNC_FINGERPRINT_FIELD_MAILCHIMP = "CRMSYNCFP"
"""Hidden merge field of two-way syncs: the fingerprint of the values last synced, so a
change the operator wrote is never taken for a campaign-side change (no loops)."""


@dataclass(frozen=True)
class SyncSettings:
    module: str
    email_field: str
    mapping: tuple[FieldPair, ...]
    criteria: tuple[Criterion, ...]
    sync_mode: SyncMode
    subscription_type: SubscriptionType
    update_empty_values: bool
    on_crm_delete: CrmDeleteAction
    remove_converted_leads: bool
    policy: OptOutPolicySpec
    tags: frozenset[str]
    record_id_field: str
    """Campaign field holding ``Module:recordId``: which CRM record a member came from, so
    CRM deletions and records leaving the criteria find their member (P5, B3)."""
    modified_after: datetime | None = None
    """P1: only records created or modified after this time take part."""
    contact_limit: int = 0
    """The target plan's contact limit (Z15); 0 = none known."""
    topic_id: str = ""
    """Zoho Campaigns topic new members join (Z4); empty: none."""
    crm_to_campaign: bool = True
    """The CRM → campaign half runs (OneWay CrmToCampaign, TwoWay)."""
    campaign_to_crm: bool = False
    """The campaign → CRM half runs (OneWay CampaignToCrm, TwoWay)."""
    conflict_policy: ConflictPolicy = ConflictPolicy.CRM_WINS
    fingerprint_field: str = ""
    """Two-way syncs: campaign field holding the fingerprint of the last synced values."""
    removal_leaves_list: bool = False
    """Zoho Campaigns: removing a member only takes it off the list (it stays in all
    contacts, unsubscribed from the list), so one already off the list needs nothing."""
    owner: str = ""
    """This sync's claim on the members it wants (:mod:`crmsync.engine.ownership`); empty:
    ownership is not tracked (every linked member is this sync's to remove)."""
    owner_tagged: bool = False
    """Mailchimp: the claim is a tag on the member (Zoho Campaigns: the record index)."""
    address_rules: AddressRules = ASCII_ONLY
    """The email addresses the target accepts (``invalid_email`` for the others)."""

    @classmethod
    def resolve(
        cls,
        spec: ContactSyncSpec,
        *,
        mapping: tuple[FieldPair, ...] | None,
        policy: OptOutPolicySpec | None,
        target_provider: str,
        contact_limit: int = 0,
        owner: str = "",
    ) -> SyncSettings:
        """``mapping``/``policy`` are the referenced objects' specs, or None when inline/absent."""
        if spec.field_mapping is not None:
            pairs = tuple(spec.field_mapping)
        elif mapping is not None:
            pairs = mapping
        else:
            pairs = (
                BASIC_FIELDS_MAILCHIMP
                if target_provider == "mailchimp"
                else BASIC_FIELDS_ZOHO_CAMPAIGNS
            )
        two_way = spec.flow.type == FlowType.TWO_WAY
        return cls(
            module=spec.crm.module,
            email_field=spec.crm.email_field,
            mapping=pairs,
            criteria=tuple(spec.crm.criteria or ()),
            sync_mode=SyncMode(spec.sync_mode),
            subscription_type=SubscriptionType(spec.subscription_type),
            update_empty_values=spec.update_empty_values,
            on_crm_delete=CrmDeleteAction(spec.on_crm_delete),
            remove_converted_leads=spec.remove_converted_leads,
            policy=spec.opt_out_policy or policy or OptOutPolicySpec(),
            tags=frozenset(spec.target.tags),
            record_id_field=RECORD_ID_FIELD_MAILCHIMP
            if target_provider == "mailchimp"
            else RECORD_ID_FIELD_ZOHO_CAMPAIGNS,
            modified_after=spec.crm.modified_after,
            contact_limit=contact_limit,
            topic_id=spec.target.topic_id or "",
            crm_to_campaign=two_way or spec.flow.direction == FlowDirection.CRM_TO_CAMPAIGN,
            campaign_to_crm=two_way or spec.flow.direction == FlowDirection.CAMPAIGN_TO_CRM,
            conflict_policy=ConflictPolicy(spec.flow.conflict_policy),
            fingerprint_field=SYNC_FINGERPRINT_FIELD_MAILCHIMP if two_way else "",
            removal_leaves_list=target_provider == "zoho-campaigns",
            owner=owner,
            owner_tagged=bool(owner) and target_provider == "mailchimp",
            address_rules=rules_for(target_provider),
        )

    @property
    def member_tags(self) -> frozenset[str]:
        """Tags every member of this sync carries: the declared ones and the claim."""
        return self.tags | {self.owner} if self.owner_tagged else self.tags

    @property
    def mirror_campaign_unsubscribes(self) -> bool:
        """Z17 in the one-way CRM → campaign flow: a member who unsubscribed
        (``campaignUnsubscribe: SetCrmOptOut``) or was cleaned (``markCleanedInCrm``) sets
        the CRM opt-out field of its record (:meth:`campaign_opts_out`, the same rule as
        the campaign → CRM half of the other flows, :mod:`crmsync.engine.reverse`)."""
        policy = self.policy
        return (
            self.crm_to_campaign
            and not self.campaign_to_crm
            and (
                policy.campaign_unsubscribe == CampaignUnsubscribeAction.SET_CRM_OPT_OUT
                or policy.mark_cleaned_in_crm
            )
        )

    def campaign_opts_out(self, status: MemberStatus) -> bool:
        """The member's status asks for the CRM opt-out field (OptOutPolicy)."""
        if status == MemberStatus.UNSUBSCRIBED:
            return self.policy.campaign_unsubscribe == CampaignUnsubscribeAction.SET_CRM_OPT_OUT
        return status == MemberStatus.CLEANED and self.policy.mark_cleaned_in_crm

    @property
    def record_fields(self) -> list[str]:
        """CRM fields to read from the synced module itself."""
        wanted = {self.email_field, self.policy.opt_out_field}
        wanted |= {p.crm_field for p in self.mapping if p.related == RelatedRecord.RECORD}
        wanted |= {c.field for c in self.criteria}
        if self.policy.consent.update_consent_from_crm and self.policy.consent.consent_field:
            wanted.add(self.policy.consent.consent_field)
        for related in {p.related for p in self.mapping}:
            source = related_source(self.module, related)
            if source is not None and source.lookup_field:
                wanted.add(source.lookup_field)
        return sorted(wanted)

    def related_fields(self, related: RelatedRecord) -> list[str]:
        return sorted({p.crm_field for p in self.mapping if p.related == related})

    def record_key(self, record_id: str) -> str:
        return f"{self.module}:{record_id}"

    @property
    def mapping_hash(self) -> str:
        """Changes when the mapping changes, so a backfill can rewrite every member (B4)."""
        pairs = [p.model_dump(mode="json") for p in self.mapping]
        return hashlib.sha256(json.dumps(pairs, sort_keys=True).encode()).hexdigest()[:16]
