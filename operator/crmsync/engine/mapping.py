"""CRM values → campaign values, and the refusal of unmappable CRM fields (Z10)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from crmsync.api.v1alpha1.fieldmapping import (
    UNMAPPABLE_DATA_TYPES,
    UNMAPPABLE_FIELD_NAMES,
    FieldPair,
    RelatedRecord,
)
from crmsync.engine.records import CrmField, CrmRecord


@dataclass(frozen=True)
class MappingProblem:
    """A field pair that cannot be synced, with the reason (shown in a status condition)."""

    crm_field: str
    reason: str


def check_mapping(
    pairs: Sequence[FieldPair],
    module_fields: Sequence[CrmField],
    related_fields: Mapping[RelatedRecord, Sequence[CrmField]] | None = None,
) -> list[MappingProblem]:
    """Pairs whose CRM field is unknown or of a kind that can never be mapped."""
    related_fields = related_fields or {}
    problems: list[MappingProblem] = []
    for pair in pairs:
        fields = (
            module_fields
            if pair.related == RelatedRecord.RECORD
            else related_fields.get(pair.related, ())
        )
        by_name = {f.api_name: f for f in fields}
        field = by_name.get(pair.crm_field)
        where = "" if pair.related == RelatedRecord.RECORD else f" of the related {pair.related}"
        if pair.crm_field in UNMAPPABLE_FIELD_NAMES:
            problems.append(
                MappingProblem(
                    pair.crm_field,
                    f"{pair.crm_field}{where} is a system field and cannot be mapped",
                )
            )
        elif field is None:
            problems.append(
                MappingProblem(pair.crm_field, f"{pair.crm_field}{where} does not exist in the CRM")
            )
        elif field.data_type in UNMAPPABLE_DATA_TYPES:
            reason = UNMAPPABLE_DATA_TYPES[field.data_type]
            problems.append(MappingProblem(pair.crm_field, f"{pair.crm_field}{where}: {reason}"))
    return problems


def to_campaign_text(value: Any) -> str:
    """One CRM value as the text a campaign field holds; empty means "no value"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        return str(value.get("name") or value.get("id") or "")
    if isinstance(value, list | tuple):
        return ", ".join(to_campaign_text(v) for v in value if v is not None)
    return str(value).strip()


def mapped_values(record: CrmRecord, pairs: Sequence[FieldPair]) -> dict[str, str]:
    """Campaign field → text for every pair (empty string when the CRM has no value)."""
    values: dict[str, str] = {}
    for pair in pairs:
        if pair.related == RelatedRecord.RECORD:
            source: Mapping[str, Any] = record.values
        else:
            source = record.related.get(str(pair.related), {})
        values[pair.campaign_field] = to_campaign_text(source.get(pair.crm_field))
    return values
