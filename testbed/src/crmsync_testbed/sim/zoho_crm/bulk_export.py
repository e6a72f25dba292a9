"""Writing one Bulk Read page: a ZIP holding one CSV, built in chunks of rows.

The CSV's header is ``id`` then the requested field API names (``Lookup.Field`` for a
field of the looked-up record); rows in id order. Cells follow the download-result doc
(https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/download-result.html):
dates and times as ISO-8601 text, booleans ``true``/``false``, a lookup as the related
record's id, multi-select picklists joined with ``;``, empty values as empty cells.
"""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmsync_testbed.sim.zoho_crm.fields import MODULES, FieldDef, ModuleDef
from crmsync_testbed.sim.zoho_crm.store import CrmStore, StoredRecord

CHUNK = 2000
"""Rows read per query; the event loop gets a turn between chunks."""
UNSUPPORTED_TYPES = frozenset(
    {
        "subform",
        "fileupload",
        "imageupload",
        "multiuserlookup",
        "multiselectlookup",
        "consent_lookup",
        "profileimage",
    }
)
"""Field kinds a Bulk Read refuses with ``FIELD_NOT_SUPPORTED`` (not documented one by one:
the kinds whose value is not one cell)."""


def exportable(field: FieldDef) -> bool:
    return field.data_type not in UNSUPPORTED_TYPES


@dataclass(frozen=True)
class Column:
    name: str
    """``Field`` or ``Lookup.Field``, as requested and as the CSV header shows it."""
    field: FieldDef | None
    """The module's own field (the lookup for ``Lookup.Field``); None for ``id``."""
    sub: str | None = None


@dataclass(frozen=True)
class PageResult:
    count: int
    last_id: int | None


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return str(value.get("id") or "")
    if isinstance(value, list):
        return ";".join(cell(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Exporter:
    """The cells of each column for stored records (lookups resolved through the store)."""

    def __init__(self, store: CrmStore, module: ModuleDef, columns: Sequence[Column]) -> None:
        self.store = store
        self.module = module
        self.columns = columns
        self._related: dict[tuple[str, int], dict[str, Any]] = {}

    def row(self, record: StoredRecord) -> list[str]:
        doc = record.doc
        out: list[str] = []
        for column in self.columns:
            if column.field is None:
                out.append(str(record.id))
            elif column.sub is None:
                out.append(cell(doc.get(column.field.api_name)))
            else:
                out.append(self._sub_cell(column.field, column.sub, doc.get(column.field.api_name)))
        return out

    def _sub_cell(self, field: FieldDef, sub: str, link: Any) -> str:
        if not isinstance(link, dict) or not link.get("id"):
            return ""
        if sub == "id":
            return str(link["id"])
        target = MODULES.get(field.lookup or "")
        if target is None:
            return cell(link.get(sub))
        if target.name_fields == (sub,) and "name" in link:
            # The name the lookup carries is what a listing shows for it too.
            return cell(link["name"])
        key = (target.api_name, int(link["id"]))
        if key not in self._related:
            if len(self._related) > 10_000:
                self._related.clear()
            related = self.store.get(target.api_name, key[1])
            self._related[key] = related.doc if related is not None else {}
        return cell(self._related[key].get(sub))


async def write_page(
    path: Path,
    exporter: Exporter,
    where: str,
    params: tuple[Any, ...],
    after_id: int,
    limit: int,
) -> PageResult:
    """Up to ``limit`` records with ids above ``after_id`` into ``path`` (ZIP of one CSV)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count, last_id = 0, None
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(f"{path.stem}.csv", "w") as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="") as text,
    ):
        writer = csv.writer(text)
        writer.writerow([c.name for c in exporter.columns])
        cursor = after_id
        while count < limit:
            rows = exporter.store.select(
                f"{where} AND id > ?", (*params, cursor), "id ASC", min(CHUNK, limit - count)
            )
            if not rows:
                break
            writer.writerows(exporter.row(r) for r in rows)
            count += len(rows)
            cursor = last_id = rows[-1].id
            await asyncio.sleep(0)
    return PageResult(count, last_id)
