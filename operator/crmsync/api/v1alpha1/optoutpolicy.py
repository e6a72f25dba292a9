"""OptOutPolicy: opt-outs, consent and legal basis (Z6, Z8, Z17, M9, P4)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict

from crmsync.api.v1alpha1._base import (
    CrdModel,
    FieldName,
    KindInfo,
    PrinterColumn,
    Resource,
    defaulted,
)


class CrmOptOutAction(StrEnum):
    """What happens on the campaign side to a member whose CRM record opted out."""

    EXCLUDE = "Exclude"
    """Never add them; members already there are left as they are."""
    UNSUBSCRIBE = "Unsubscribe"
    """Never add them, and unsubscribe members already there."""
    ARCHIVE = "Archive"
    """Never add them, and archive (remove) members already there."""


class CampaignUnsubscribeAction(StrEnum):
    """What happens in the CRM when someone unsubscribes on the campaign side."""

    SET_CRM_OPT_OUT = "SetCrmOptOut"
    IGNORE = "Ignore"


class LegalBasis(StrEnum):
    CONSENT = "Consent"
    CONTRACT = "Contract"
    LEGITIMATE_INTERESTS = "LegitimateInterests"
    LEGAL_OBLIGATION = "LegalObligation"
    VITAL_INTERESTS = "VitalInterests"
    PUBLIC_INTEREST = "PublicInterest"


class Consent(CrdModel):
    """GDPR handling (Z6). Without consent, or with GDPR off, contacts arrive non-marketing."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!self.updateConsentFromCrm || has(self.consentField)",
                    "message": "updateConsentFromCrm needs consentField (the CRM field holding consent)",
                    "fieldPath": ".consentField",
                },
                {
                    "rule": "self.gdpr || !self.updateConsentFromCrm",
                    "message": "updateConsentFromCrm needs gdpr: true",
                    "fieldPath": ".updateConsentFromCrm",
                },
            ]
        }
    )

    gdpr: bool = False
    """GDPR compliance on: contacts need a legal basis to be marketing contacts."""
    legal_basis: LegalBasis = LegalBasis.CONSENT
    """The legal basis recorded for communication."""
    update_consent_from_crm: bool = False
    """Take each contact's consent status from the CRM field consentField."""
    consent_field: FieldName | None = None
    """Boolean CRM field meaning "consented to marketing email"."""


class OptOutPolicySpec(CrdModel):
    """Opt-outs both ways, consent and legal basis. Subscription status is never a mapped
    field: new members get it from this policy; existing members change it only here."""

    opt_out_field: FieldName = "Email_Opt_Out"
    """Boolean CRM field meaning "opted out of email"."""
    crm_opt_out: CrmOptOutAction = CrmOptOutAction.EXCLUDE
    """Exclude opted-out records, or also unsubscribe/archive them on the campaign side (Z8)."""
    campaign_unsubscribe: CampaignUnsubscribeAction = CampaignUnsubscribeAction.SET_CRM_OPT_OUT
    """On a campaign-side unsubscribe, set the CRM opt-out field, or ignore it (Z17, M9)."""
    mark_cleaned_in_crm: bool = True
    """Hard-bounced (cleaned) addresses set the CRM opt-out field too; they are never
    resubscribed either way."""
    consent: Consent = defaulted(Consent)
    """GDPR consent and legal basis (Z6)."""


class OptOutPolicy(Resource):
    """Opt-out, consent and legal-basis handling, shared by several ContactSyncs."""

    kind_info: ClassVar[KindInfo] = KindInfo(
        kind="OptOutPolicy",
        plural="optoutpolicies",
        short_names=("optout",),
        printer_columns=(
            PrinterColumn("CRM Opt-Out", ".spec.crmOptOut"),
            PrinterColumn("GDPR", ".spec.consent.gdpr", type="boolean"),
            PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),
        ),
    )
    kind: str = "OptOutPolicy"
    spec: OptOutPolicySpec
