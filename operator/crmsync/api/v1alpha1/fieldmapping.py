"""FieldMapping: which CRM field fills which campaign field (Z10, M6, Z3)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field

from crmsync.api.v1alpha1._base import CrdModel, FieldName, KindInfo, PrinterColumn, Resource

# Z10: CRM fields that can never be mapped, by API name (checked by the API server)
# and by data type (checked by the operator against the module's field metadata).
UNMAPPABLE_FIELD_NAMES: tuple[str, ...] = (
    "Modified_By",
    "Created_By",
    "Modified_Time",
    "Layout",
    "Wizard",
    "Record_Image",
    "Data_Processing_Basis",
    "Data_Processing_Basis_Details",
    "Last_Followed_By",
    "Territories",
    "Tag",
)
UNMAPPABLE_DATA_TYPES: dict[str, str] = {
    "lookup": "lookup fields cannot be mapped",
    "multiselectlookup": "multi-select lookup fields cannot be mapped",
    "userlookup": "user lookup fields cannot be mapped",
    "multiuserlookup": "multi-user lookup fields cannot be mapped",
    "ownerlookup": "owner lookup fields (Created By, Modified By) cannot be mapped",
    "profileimage": "profile or record images cannot be mapped",
    "imageupload": "image upload fields cannot be mapped",
    "fileupload": "file upload fields cannot be mapped",
    "subform": "subforms cannot be mapped",
    "layout": "the layout cannot be mapped",
    "wizard": "the wizard cannot be mapped",
    "territories": "territories cannot be mapped",
    "consent_lookup": "the data processing basis cannot be mapped",
}


class RelatedRecord(StrEnum):
    """Where a CRM value comes from: the synced record itself or a record related to it."""

    RECORD = "Record"
    ACCOUNT = "Account"
    DEAL = "Deal"


class FieldPair(CrdModel):
    """One CRM field ↔ one campaign field."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(self.crmField in " + repr(list(UNMAPPABLE_FIELD_NAMES)) + ")",
                    "messageExpression": "'CRM field ' + self.crmField + ' cannot be mapped "
                    "(Z10: system, lookup, image, file, subform, layout and consent fields "
                    "are not mappable)'",
                    "fieldPath": ".crmField",
                    "reason": "FieldValueInvalid",
                },
                {
                    "rule": "self.campaignField != 'EMAIL' && self.campaignField != 'Contact Email'",
                    "message": "the email is the sync key and is always synced; map other fields",
                    "fieldPath": ".campaignField",
                },
            ]
        }
    )

    crm_field: FieldName
    """API name of the CRM field (``First_Name``, ``Industry``, a custom ``Tier__c`` …)."""
    campaign_field: FieldName
    """The campaign-side field: a Mailchimp merge tag (``FNAME``) or a Zoho Campaigns
    field display name (``First Name``)."""
    related: RelatedRecord = RelatedRecord.RECORD
    """Record (the synced lead/contact), Account (its account) or Deal (its latest deal) (Z3)."""


FieldPairs = Annotated[
    list[FieldPair],
    Field(
        max_length=200,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.all(p, self.exists_one(q, q.campaignField == p.campaignField))",
                    "message": "each campaign field may be filled by one CRM field only",
                }
            ]
        },
    ),
]


class FieldMappingSpec(CrdModel):
    """A reusable field mapping, referenced by ContactSyncs (or written inline there)."""

    fields: FieldPairs
    """The field pairs. Email is always synced as the key and is not listed here."""


class FieldMapping(Resource):
    """CRM field ↔ campaign field pairs, shared by several ContactSyncs."""

    kind_info: ClassVar[KindInfo] = KindInfo(
        kind="FieldMapping",
        plural="fieldmappings",
        short_names=("fmap",),
        printer_columns=(PrinterColumn("Age", ".metadata.creationTimestamp", type="date"),),
    )
    kind: str = "FieldMapping"
    spec: FieldMappingSpec
