"""A Bulk Read CSV row as the :class:`CrmRecord` a listing page gives for the same record.

The CSV holds text only (https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/download-result.html):
``id`` first, then one column per requested field API name; booleans ``true``/``false``,
dates and times ISO-8601, a lookup as the related record's id (its name is a second
column, ``Lookup.Name_Field``), multi-select picklists joined with ``;``, empty values as
empty cells. The listing's JSON types are rebuilt from the fields' ``data_type``. Field
kinds whose listing value cannot be rebuilt from cells (owner and user lookups carry a
name and an email, subforms, files…) make :func:`csv_plan` answer None: such reads page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crmsync.engine.records import CrmRecord

MODIFIED_TIME = "Modified_Time"
LOOKUP_NAME_FIELDS = {
    "Accounts": "Account_Name",
    "Deals": "Deal_Name",
    "Campaigns": "Campaign_Name",
    "Products": "Product_Name",
    "Vendors": "Vendor_Name",
}
"""The field a lookup's ``name`` comes from, by the looked-up module (its record name)."""
TEXT_TYPES = frozenset(
    {"text", "textarea", "mediumtext", "email", "phone", "website", "picklist", "date",
     "datetime", "autonumber", "bigint"}
)  # fmt: skip
"""Kinds the listing answers as JSON strings (``bigint`` too: ids and big numbers)."""
INTEGER_TYPES = frozenset({"integer", "long"})
DECIMAL_TYPES = frozenset({"double", "currency", "percent", "decimal"})


def _text(cell: str) -> str | None:
    return cell if cell != "" else None


def _boolean(cell: str) -> bool | None:
    return None if cell == "" else cell.strip().lower() == "true"


def _integer(cell: str) -> int | None:
    return None if cell == "" else int(float(cell))


def _decimal(cell: str) -> float | None:
    return None if cell == "" else float(cell)


def _choices(cell: str) -> list[str] | None:
    return None if cell == "" else cell.split(";")


def _converter(data_type: str) -> Callable[[str], Any] | None:
    if data_type in TEXT_TYPES:
        return _text
    if data_type == "boolean":
        return _boolean
    if data_type in INTEGER_TYPES:
        return _integer
    if data_type in DECIMAL_TYPES:
        return _decimal
    if data_type == "multiselectpicklist":
        return _choices
    return None


def parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Column:
    field: str
    convert: Callable[[str], Any] | None = None
    """None for a lookup (read with its name column)."""
    name_field: str = ""
    """A lookup's name column: ``Lookup.Name_Field``."""


@dataclass(frozen=True)
class CsvPlan:
    """Which columns to ask a Bulk Read for, and how their cells become listing values."""

    columns: tuple[Column, ...]

    @property
    def csv_fields(self) -> list[str]:
        """The job's ``query.fields`` (``id`` comes first in every CSV unasked)."""
        names: list[str] = []
        for column in self.columns:
            names.append(column.field)
            if column.name_field:
                names.append(column.name_field)
        return names

    @property
    def header(self) -> list[str]:
        """The CSV columns in the order :meth:`record` takes the cells."""
        return ["id", *self.csv_fields]

    def record(self, cells: Sequence[str]) -> CrmRecord:
        """The record of one row, its cells in :attr:`header` order."""
        values: dict[str, Any] = {}
        at = 1
        for column in self.columns:
            cell = cells[at]
            at += 1
            if column.convert is not None:
                values[column.field] = column.convert(cell)
                continue
            name = cells[at]
            at += 1
            values[column.field] = {"name": _text(name), "id": cell} if cell else None
        return CrmRecord(
            id=cells[0], modified_time=parse_time(str(values[MODIFIED_TIME])), values=values
        )


def csv_plan(fields: Sequence[str], metadata: Mapping[str, Mapping[str, Any]]) -> CsvPlan | None:
    """The plan for reading ``fields`` (Modified_Time added), given the module's field
    metadata by API name (``GET /settings/fields``); None when one cannot be read as CSV."""
    columns: list[Column] = []
    for name in dict.fromkeys([*fields, MODIFIED_TIME]):
        if name == "id":
            continue
        meta = metadata.get(name)
        if meta is None:
            return None
        data_type = str(meta.get("data_type", ""))
        if data_type == "lookup":
            target = str(((meta.get("lookup") or {}).get("module") or {}).get("api_name", ""))
            if target not in LOOKUP_NAME_FIELDS:
                return None
            columns.append(Column(name, name_field=f"{name}.{LOOKUP_NAME_FIELDS[target]}"))
            continue
        convert = _converter(data_type)
        if convert is None:
            return None
        columns.append(Column(name, convert))
    return CsvPlan(tuple(columns))
