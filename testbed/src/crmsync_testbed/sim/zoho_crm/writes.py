"""Writing records: insert, update, upsert, delete — with per-record results.

Spec: record.json ``Create Records`` / ``Update Records`` / ``Update Record`` /
``Upsert Records`` / ``Delete Records`` / ``Delete Record`` (request ``Body_Wrapper``,
response ``data[]`` of ``Success_Response`` | ``API_Exception``). Docs:
https://www.zoho.com/crm/developer/docs/api/v8/insert-records.html,
https://www.zoho.com/crm/developer/docs/api/v8/update-records.html,
https://www.zoho.com/crm/developer/docs/api/v8/upsert-records.html,
https://www.zoho.com/crm/developer/docs/api/v8/delete-records.html and
https://www.zoho.com/crm/developer/docs/api/v8/status-codes.html.

At most 100 records per call. Each record succeeds or fails on its own: all succeeded →
201 (insert) / 200, some failed → 207, all failed → 400, with one result per record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.fakedata import normalise_email
from crmsync_testbed.sim.zoho_crm.context import CURRENT_USER, ctx, minified_user
from crmsync_testbed.sim.zoho_crm.errors import (
    ZohoError,
    error_body,
    invalid_body,
    required_param_missing,
)
from crmsync_testbed.sim.zoho_crm.fields import MODULES, FieldDef, ModuleDef, module_for
from crmsync_testbed.sim.zoho_crm.limits import charge_records
from crmsync_testbed.sim.zoho_crm.notifications import Change
from crmsync_testbed.sim.zoho_crm.records import live_record
from crmsync_testbed.sim.zoho_crm.store import (
    CrmStore,
    RecordState,
    StoredRecord,
    now_ms,
    parse_zoho_time,
    zoho_time,
)

MAX_RECORDS = 100
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SYSTEM_MANAGED = {"Created_By", "Modified_By", "Created_Time", "Modified_Time"}


class RecordError(Exception):
    """One record's failure, answered inside ``data[]``."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.body = error_body(code, message, details)


def _field_error(
    code: str, message: str, fd: FieldDef | str, index: int, **extra: Any
) -> RecordError:
    name = fd if isinstance(fd, str) else fd.api_name
    return RecordError(
        code, message, {"api_name": name, "json_path": f"$.data[{index}].{name}", **extra}
    )


def _invalid(fd: FieldDef, index: int) -> RecordError:
    return _field_error("INVALID_DATA", "invalid data", fd, index, expected_data_type=fd.data_type)


def _lookup_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, (str, int)) and str(value).isdigit():
        return str(value)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(fd: FieldDef, value: Any, index: int) -> str:
    if not isinstance(value, str) and not _is_number(value):
        raise _invalid(fd, index)
    text = str(value)
    if len(text) > fd.length:
        raise _field_error("INVALID_DATA", "invalid data", fd, index, maximum_length=str(fd.length))
    return text


def _email(fd: FieldDef, value: Any, index: int) -> str:
    if not isinstance(value, str) or not EMAIL_PATTERN.match(value.strip()):
        raise _invalid(fd, index)
    return value


def _boolean(fd: FieldDef, value: Any, index: int) -> bool:
    if not isinstance(value, bool):
        raise _invalid(fd, index)
    return value


def _integer(fd: FieldDef, value: Any, index: int) -> int:
    if not _is_number(value) or int(value) != value:
        raise _invalid(fd, index)
    return int(value)


def _parsed(parse: Callable[[str], str]) -> Callable[[FieldDef, Any, int], str]:
    def clean(fd: FieldDef, value: Any, index: int) -> str:
        try:
            return parse(str(value))
        except (TypeError, ValueError):
            raise _invalid(fd, index) from None

    return clean


def _number(fd: FieldDef, value: Any, index: int) -> float:
    if isinstance(value, bool):
        raise _invalid(fd, index)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _invalid(fd, index) from None


def _string_list(fd: FieldDef, value: Any, index: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(fd, index)
    return value


def _owner(fd: FieldDef, value: Any, index: int) -> dict[str, Any]:
    if _lookup_id(value) != CURRENT_USER["id"]:
        raise _invalid(fd, index)
    return minified_user()


def _clean_owner(store: CrmStore, fd: FieldDef, value: Any, index: int) -> dict[str, Any]:
    """``Owner`` may be any active user of the organisation, as in Zoho."""
    wanted = _lookup_id(value)
    user = next((u for u in store.users() if u["id"] == wanted), None)
    if user is None or user.get("status") != "active":
        raise _invalid(fd, index)
    return minified_user(user)


CLEANERS: dict[str, Callable[[FieldDef, Any, int], Any]] = {
    **dict.fromkeys(("text", "textarea", "phone", "website", "picklist"), _text),
    "email": _email,
    "boolean": _boolean,
    "integer": _integer,
    "double": _number,
    "currency": _number,
    "date": _parsed(lambda v: date.fromisoformat(v).isoformat()),
    "datetime": _parsed(lambda v: zoho_time(parse_zoho_time(v))),
    "multiselectpicklist": _string_list,
    "ownerlookup": _owner,
}
"""Validation per data type; other types (subform, fileupload, …) are stored as given."""


def clean_value(store: CrmStore, fd: FieldDef, value: Any, index: int) -> Any:
    """The value as stored, or RecordError with the documented details."""
    if value is None or value == "":
        return None
    if fd.data_type == "lookup":
        return _clean_lookup(store, fd, value, index)
    if fd.data_type == "ownerlookup":
        return _clean_owner(store, fd, value, index)
    cleaner = CLEANERS.get(fd.data_type)
    return value if cleaner is None else cleaner(fd, value, index)


def _clean_lookup(store: CrmStore, fd: FieldDef, value: Any, index: int) -> dict[str, Any]:
    record_id = _lookup_id(value)
    target = MODULES.get(fd.lookup or "")
    if record_id is None or target is None:
        raise _invalid(fd, index)
    record = store.get(target.api_name, int(record_id))
    if record is None or record.state != RecordState.LIVE:
        raise _field_error("INVALID_DATA", "invalid data", fd, index, expected_data_type="lookup")
    return {"name": target.display_name(record.doc), "id": record_id}


def clean_input(
    store: CrmStore, module: ModuleDef, data: Any, index: int, creating: bool
) -> dict[str, Any]:
    """Validated field values of one input record (unknown keys are ignored, like Zoho)."""
    if not isinstance(data, dict):
        raise RecordError("INVALID_DATA", "invalid data", {"json_path": f"$.data[{index}]"})
    values: dict[str, Any] = {}
    for name, raw in data.items():
        fd = module.by_name.get(name)
        if fd is None or fd.read_only or name in SYSTEM_MANAGED:
            continue
        values[name] = clean_value(store, fd, raw, index)
    for fd in module.mandatory:
        present = fd.api_name in values
        if (creating and not present) or (present and values[fd.api_name] is None):
            raise _field_error("MANDATORY_NOT_FOUND", "required field not found", fd, index)
    return values


def email_key(module: ModuleDef, doc: dict[str, Any]) -> str | None:
    if module.email_field is None:
        return None
    value = doc.get(module.email_field)
    return normalise_email(value) if isinstance(value, str) else None


def _apply_opt_out(before: dict[str, Any], values: dict[str, Any], at: int) -> None:
    """Opting out through the API stamps ``Unsubscribed_Mode``/``_Time``; opting in clears."""
    if "Email_Opt_Out" not in values or bool(before.get("Email_Opt_Out")) == bool(
        values["Email_Opt_Out"]
    ):
        return
    if values["Email_Opt_Out"]:
        values["Unsubscribed_Mode"] = "Manual"
        values["Unsubscribed_Time"] = zoho_time(at)
    else:
        values["Unsubscribed_Mode"] = None
        values["Unsubscribed_Time"] = None


def _success(message: str, doc: dict[str, Any], record_id: int, **extra: Any) -> dict[str, Any]:
    details = {
        "Modified_Time": doc["Modified_Time"],
        "Modified_By": doc["Modified_By"],
        "Created_Time": doc["Created_Time"],
        "id": str(record_id),
        "Created_By": doc["Created_By"],
    }
    return {"code": "SUCCESS", "details": details, "message": message, "status": "success", **extra}


@dataclass
class Writer:
    """Applies one API call's writes to one module and collects what changed."""

    store: CrmStore
    module: ModuleDef
    at: int = field(default_factory=now_ms)
    inserted: list[int] = field(default_factory=list)
    updated: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: list[int] = field(default_factory=list)

    def _check_unique(self, values: dict[str, Any], index: int, own_id: int | None = None) -> None:
        for fd in self.module.fields:
            if not fd.unique or values.get(fd.api_name) is None:
                continue
            value = values[fd.api_name]
            if fd.api_name == self.module.email_field:
                matches = self.store.ids_by_email(
                    self.module.api_name, normalise_email(value) or ""
                )
            else:
                matches = self.store.ids_by_field(self.module.api_name, fd.api_name, value)
            clash = [m for m in matches if m != own_id]
            if clash:
                raise self.duplicate_error(fd.api_name, index, clash[0])

    def duplicate_error(self, api_name: str, index: int, existing: int) -> RecordError:
        return _field_error(
            "DUPLICATE_DATA",
            "duplicate data",
            api_name,
            index,
            duplicate_record={
                "id": str(existing),
                "Owner": minified_user(),
                "module": {"api_name": self.module.api_name, "id": str(self.module.module_id)},
            },
        )

    def create(
        self,
        data: Any,
        index: int,
        parent: tuple[ModuleDef, StoredRecord] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Insert one record; ``parent`` links a Note (or captured email) to its record."""
        values = clean_input(self.store, self.module, data, index, creating=True)
        self._check_unique(values, index)
        _apply_opt_out({}, values, self.at)
        stamp = zoho_time(self.at)
        doc = {
            "Owner": minified_user(),
            **values,
            "Created_By": minified_user(),
            "Modified_By": minified_user(),
            "Created_Time": stamp,
            "Modified_Time": stamp,
        }
        if parent is not None:
            parent_module, parent_record = parent
            doc["Parent_Id"] = {
                "module": {"api_name": parent_module.api_name, "id": str(parent_module.module_id)},
                "id": str(parent_record.id),
                "name": parent_module.display_name(parent_record.doc),
            }
        record_id = self.store.insert(
            self.module.api_name,
            doc,
            email_key(self.module, doc),
            self.at,
            parent[1].id if parent else None,
        )
        self.inserted.append(record_id)
        return _success("record added", doc, record_id, **extra)

    def update(self, record: StoredRecord, data: Any, index: int, **extra: Any) -> dict[str, Any]:
        if record.converted:
            raise RecordError(
                "CONVERTED_RECORD", "can't update the converted record", {"id": str(record.id)}
            )
        values = clean_input(self.store, self.module, data, index, creating=False)
        self._check_unique(values, index, own_id=record.id)
        _apply_opt_out(record.doc, values, self.at)
        changed = {k: v for k, v in values.items() if record.doc.get(k) != v}
        doc = {
            **record.doc,
            **values,
            "Modified_By": minified_user(),
            "Modified_Time": zoho_time(self.at),
        }
        self.store.replace_doc(record.id, doc, email_key(self.module, doc), self.at)
        self.updated.setdefault(record.id, {}).update(changed)
        return _success("record updated", doc, record.id, **extra)

    def delete(self, record: StoredRecord) -> dict[str, Any]:
        self.store.set_state([record.id], RecordState.RECYCLE_BIN, self.at)
        self.deleted.append(record.id)
        return {
            "code": "SUCCESS",
            "details": {"id": str(record.id)},
            "message": "record deleted",
            "status": "success",
        }

    def changes(self) -> list[Change]:
        name = self.module.api_name
        return [
            Change(name, "insert", list(self.inserted)),
            Change(name, "update", list(self.updated), dict(self.updated)),
            Change(name, "delete", list(self.deleted)),
        ]


def respond(results: list[dict[str, Any]], success_status: int) -> web.Response:
    failed = sum(r["status"] == "error" for r in results)
    status = success_status if failed == 0 else 400 if failed == len(results) else 207
    return web.json_response({"data": results}, status=status)


async def read_body(request: web.Request) -> tuple[list[Any], dict[str, Any]]:
    """The ``data`` array (1..100 records) and the whole body of a write call."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid_body() from None
    if not isinstance(body, dict):
        raise invalid_body()
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise ZohoError(
            400, "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "data"}
        )
    if len(data) > MAX_RECORDS:
        raise ZohoError(
            400,
            "LIMIT_EXCEEDED",
            "Record count exceeded",
            {"limit": MAX_RECORDS, "api_name": "data"},
        )
    charge_records(request, len(data))
    return data, body


def run_writes(request: web.Request, module: ModuleDef, work: Any) -> list[dict[str, Any]]:
    """Run ``work(writer) -> results`` in one transaction, then publish the changes."""
    context = ctx(request)
    writer = Writer(context.store, module)
    with context.store.transaction():
        results: list[dict[str, Any]] = work(writer)
    context.notifier.publish(writer.changes())
    return results


def each_record(writer: Writer, data: list[Any], one: Any) -> list[dict[str, Any]]:
    results = []
    for index, item in enumerate(data):
        try:
            results.append(one(writer, item, index))
        except RecordError as exc:
            results.append(exc.body)
    return results


async def insert_records(request: web.Request) -> web.Response:
    """``POST /{module}``."""
    module = module_for(request.match_info["module"])
    data, _ = await read_body(request)
    results = run_writes(
        request, module, lambda w: each_record(w, data, lambda w, item, i: w.create(item, i))
    )
    return respond(results, 201)


def _update_by_body_id(writer: Writer, item: Any, index: int) -> dict[str, Any]:
    raw_id = item.get("id") if isinstance(item, dict) else None
    if raw_id in (None, ""):
        raise _field_error("MANDATORY_NOT_FOUND", "required field not found", "id", index)
    return writer.update(_existing(writer, str(raw_id), index), item, index)


def _existing(writer: Writer, raw_id: str, index: int) -> StoredRecord:
    record = writer.store.get(writer.module.api_name, int(raw_id)) if raw_id.isdigit() else None
    if record is None or record.state != RecordState.LIVE:
        raise _field_error("INVALID_DATA", "the id given seems to be invalid", "id", index)
    return record


async def update_records(request: web.Request) -> web.Response:
    """``PUT /{module}`` — each record names its ``id``."""
    module = module_for(request.match_info["module"])
    data, _ = await read_body(request)
    return respond(
        run_writes(request, module, lambda w: each_record(w, data, _update_by_body_id)), 200
    )


async def update_record(request: web.Request) -> web.Response:
    """``PUT /{module}/{id}`` — the single record of ``data``."""
    module = module_for(request.match_info["module"])
    record = live_record(request, module, request.match_info["id"])
    data, _ = await read_body(request)
    results = run_writes(
        request,
        module,
        lambda w: each_record(w, data[:1], lambda w, item, i: w.update(record, item, i)),
    )
    return respond(results, 200)


def _duplicate_check_fields(module: ModuleDef, body: dict[str, Any]) -> list[str]:
    raw = body.get("duplicate_check_fields")
    if raw is None:
        return list(module.duplicate_check_fields) + [
            f.api_name
            for f in module.fields
            if f.unique and f.api_name not in module.duplicate_check_fields
        ]
    if not isinstance(raw, list) or not all(
        isinstance(n, str) and n in module.by_name for n in raw
    ):
        raise ZohoError(
            400,
            "INVALID_DATA",
            "invalid data",
            {"api_name": "duplicate_check_fields", "json_path": "$.duplicate_check_fields"},
        )
    return raw


def _matches(writer: Writer, name: str, value: Any) -> list[int]:
    module = writer.module
    if name == module.email_field:
        return writer.store.ids_by_email(module.api_name, normalise_email(str(value)) or "")
    if isinstance(value, dict):
        value = value.get("id")
    return writer.store.ids_by_field(module.api_name, name, value)


async def upsert_records(request: web.Request) -> web.Response:
    """``POST /{module}/upsert`` — update the record found by ``duplicate_check_fields``.

    Fields are tried in order; the first with a value that matches exactly one record
    wins (``action: update``, ``duplicate_field``); no match inserts (``action: insert``).
    A value matching several records fails that record with DUPLICATE_DATA.
    """
    module = module_for(request.match_info["module"])
    data, body = await read_body(request)
    check_fields = _duplicate_check_fields(module, body)

    def one(writer: Writer, item: Any, index: int) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise RecordError("INVALID_DATA", "invalid data", {"json_path": f"$.data[{index}]"})
        for name in check_fields:
            value = item.get(name)
            if value in (None, ""):
                continue
            found = _matches(writer, name, value)
            if len(found) > 1:
                raise writer.duplicate_error(name, index, found[0])
            if found:
                record = _existing(writer, str(found[0]), index)
                return writer.update(record, item, index, action="update", duplicate_field=name)
        return writer.create(item, index, action="insert")

    results = run_writes(request, module, lambda w: each_record(w, data, one))
    any_insert = any(r.get("action") == "insert" for r in results)
    return respond(results, 201 if any_insert else 200)


async def delete_records(request: web.Request) -> web.Response:
    """``DELETE /{module}?ids=`` (≤ 100) — records go to the recycle bin."""
    module = module_for(request.match_info["module"])
    raw = [i.strip() for i in request.query.get("ids", "").split(",") if i.strip()]
    if not raw:
        raise required_param_missing("ids")
    if len(raw) > MAX_RECORDS:
        raise ZohoError(
            400,
            "LIMIT_EXCEEDED",
            "Record count exceeded",
            {"limit": MAX_RECORDS, "param_name": "ids"},
        )
    return respond(run_writes(request, module, lambda w: [_delete_one(w, i) for i in raw]), 200)


def _delete_one(writer: Writer, raw_id: str) -> dict[str, Any]:
    record = writer.store.get(writer.module.api_name, int(raw_id)) if raw_id.isdigit() else None
    if record is None or record.state != RecordState.LIVE:
        return error_body("INVALID_DATA", "the id given seems to be invalid", {"id": raw_id})
    return writer.delete(record)


async def delete_record(request: web.Request) -> web.Response:
    """``DELETE /{module}/{id}``."""
    module = module_for(request.match_info["module"])
    raw_id = request.match_info["id"]
    return respond(run_writes(request, module, lambda w: [_delete_one(w, raw_id)]), 200)


async def empty_recycle_bin(request: web.Request) -> web.Response:
    """``DELETE /settings/recycle_bin[/{record_id}]`` (recycle_bin.json): delete for good."""
    store = ctx(request).store
    raw_id = request.match_info.get("record_id")
    where = "state = 1" + (" AND id = ?" if raw_id else "")
    params: tuple[Any, ...] = (int(raw_id),) if raw_id and raw_id.isdigit() else ()
    if raw_id and not params:
        raise ZohoError(400, "INVALID_DATA", "the id given seems to be invalid", {"id": raw_id})
    rows = store.select(where, params, "id", 10**9)
    with store.transaction():
        store.set_state([r.id for r in rows], RecordState.PERMANENTLY_DELETED, now_ms())
    return web.json_response(
        {
            "recycle_bin": [
                {
                    "code": "SUCCESS",
                    "details": {"id": str(r.id)},
                    "message": "record deleted",
                    "status": "success",
                }
                for r in rows
            ]
        }
    )
