"""Reading records: list, get one, deleted records, search, count.

Spec: record.json ``Get Records`` / ``Get Record`` / ``Get Deleted Records`` /
``Search Records`` / ``Record Count``; docs
https://www.zoho.com/crm/developer/docs/api/v8/get-records.html (``fields`` mandatory,
≤ 50 — optional under ``/crm/v2``, where all fields are answered without it, as the v2
get-records doc says; ``per_page`` ≤ 200; ``page`` covers the first 2,000 records, beyond
that ``page_token``; ``If-Modified-Since`` → 304; no records → 204),
https://www.zoho.com/crm/developer/docs/api/v8/get-deleted-records.html,
https://www.zoho.com/crm/developer/docs/api/v8/search-records.html (at most 2,000
records per search, at most 10 criteria).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_crm.context import api_version, ctx, minified_user
from crmsync_testbed.sim.zoho_crm.errors import (
    ZohoError,
    discrete_pagination_limit,
    invalid_id,
    invalid_param,
    required_param_missing,
)
from crmsync_testbed.sim.zoho_crm.fields import ModuleDef, module_for
from crmsync_testbed.sim.zoho_crm.query import (
    Compare,
    Condition,
    CriteriaParser,
    Logical,
    QueryError,
    compile_condition,
)
from crmsync_testbed.sim.zoho_crm.store import (
    RecordState,
    StoredRecord,
    now_ms,
    parse_zoho_time,
    zoho_time,
)

MAX_PER_PAGE = 200
MAX_FIELDS = 50
PAGE_LIMIT = 2000
"""Records reachable with ``page``; beyond, ``page_token`` is required."""
PAGE_TOKEN_HOURS = 24
MAX_SEARCH_CRITERIA = 10
LIST_DEFAULTS: dict[str, Any] = {"Tag": []}
"""Fields Zoho answers as an empty list rather than null."""
SORT_COLUMNS = {"id": "id", "Modified_Time": "modified_ms", "Created_Time": "created_ms"}


def record_view(
    module: ModuleDef, record: StoredRecord, fields: list[str] | None = None
) -> dict[str, Any]:
    """A record as the API answers it: all module fields (null when empty), or ``fields``."""
    doc = record.as_api()
    if module.api_name == "Leads":
        doc["$converted"] = record.converted
    names = fields if fields is not None else [f.api_name for f in module.fields]
    view = {"id": doc["id"]}
    for name in names:
        view[name] = doc.get(name, LIST_DEFAULTS.get(name))
    for key in ("$converted", "$converted_detail"):
        if key in doc:
            view[key] = doc[key]
    return view


def requested_fields(request: web.Request, module: ModuleDef, required: bool) -> list[str] | None:
    raw = request.query.get("fields")
    if not raw:
        if required:
            raise required_param_missing("fields")
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > MAX_FIELDS:
        raise ZohoError(
            400,
            "LIMIT_EXCEEDED",
            "Max field limit exceeded",
            {"param_name": "fields", "limit": MAX_FIELDS},
        )
    unknown = [n for n in names if n != "id" and n not in module.by_name]
    if unknown:
        raise invalid_param("fields", "invalid data")
    return [n for n in names if n != "id"]


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_param(name) from None
    if not low <= value <= high:
        raise invalid_param(name)
    return value


def _converted_filter(request: web.Request) -> str:
    value = request.query.get("converted", "false").lower()
    if value not in ("true", "false", "both"):
        raise invalid_param("converted")
    return {"true": "converted = 1", "false": "converted = 0", "both": "1 = 1"}[value]


def _since_ms(request: web.Request) -> int | None:
    raw = request.headers.get("If-Modified-Since")
    if not raw:
        return None
    try:
        return parse_zoho_time(raw)
    except ValueError:
        raise ZohoError(
            400, "INVALID_DATA", "invalid data", {"param_name": "If-Modified-Since"}
        ) from None


@dataclass(frozen=True)
class Listing:
    """One query of a module's live records, paged by ``page`` or by ``page_token``."""

    where: str
    params: tuple[Any, ...]
    sort_by: str
    sort_order: str

    @property
    def signature(self) -> str:
        return json.dumps([self.where, list(self.params), self.sort_by, self.sort_order])

    def order_by(self) -> str:
        column = SORT_COLUMNS[self.sort_by]
        direction = "ASC" if self.sort_order == "asc" else "DESC"
        return f"{column} {direction}, id {direction}"


def encode_page_token(listing: Listing, last: StoredRecord) -> str:
    key = {"id": last.id, "Modified_Time": last.modified_ms, "Created_Time": last.created_ms}[
        listing.sort_by
    ]
    payload = {
        "s": listing.signature,
        "k": key,
        "i": last.id,
        "x": now_ms() + PAGE_TOKEN_HOURS * 3600 * 1000,
    }
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def decode_page_token(listing: Listing, token: str) -> tuple[int, int]:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        valid = payload["s"] == listing.signature and payload["x"] > now_ms()
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "page_token"})
    return int(payload["k"]), int(payload["i"])


def run_listing(
    request: web.Request,
    module: ModuleDef,
    listing: Listing,
    fields: list[str] | None,
    page_limit: int | None = PAGE_LIMIT,
) -> web.Response:
    """Answer a listing: 204 when empty, else ``{data, info}`` with both pagination styles."""
    store = ctx(request).store
    per_page = _int_param(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    token = request.query.get("page_token")
    where, params = listing.where, listing.params
    if token:
        if "page" in request.query:
            raise invalid_param("page", "invalid data")
        key, last_id = decode_page_token(listing, token)
        column = SORT_COLUMNS[listing.sort_by]
        cmp = ">" if listing.sort_order == "asc" else "<"
        # A row value, so SQLite seeks the sort index to the token instead of scanning it
        # from the start (an OR of the two cases cannot seek: O(pages²) over a long read).
        where = f"{where} AND ({column}, id) {cmp} (?, ?)"
        params = (*params, key, last_id)
        page, offset = 1, 0
    else:
        page = _int_param(request, "page", 1, 1, 10**9)
        offset = (page - 1) * per_page
        if page_limit is not None and offset + per_page > page_limit and page > 1:
            raise discrete_pagination_limit(page_limit)
    rows = store.select(where, params, listing.order_by(), per_page + 1, offset)
    more = len(rows) > per_page
    rows = rows[:per_page]
    if not rows:
        return web.Response(status=204)
    info: dict[str, Any] = {
        "per_page": per_page,
        "count": len(rows),
        "page": page,
        "more_records": more,
        "sort_by": listing.sort_by,
        "sort_order": listing.sort_order,
    }
    if more and page_limit is not None:
        info["next_page_token"] = encode_page_token(listing, rows[-1])
        info["page_token_expiry"] = zoho_time(now_ms() + PAGE_TOKEN_HOURS * 3600 * 1000)
    return web.json_response({"data": [record_view(module, r, fields) for r in rows], "info": info})


def live_where(module: ModuleDef) -> tuple[str, tuple[Any, ...]]:
    return "module = ? AND state = 0", (module.api_name,)


async def list_records(request: web.Request) -> web.Response:
    """``GET /{module}`` (record.json ``Get Records``)."""
    module = module_for(request.match_info["module"])
    fields = requested_fields(request, module, required=api_version(request) != "v2")
    where, params = live_where(module)
    where = f"{where} AND {_converted_filter(request)}"
    raw_ids = request.query.get("ids")
    if raw_ids:
        ids = [_record_id(i) for i in raw_ids.split(",") if i.strip()]
        where += f" AND id IN ({', '.join('?' for _ in ids)})"
        params = (*params, *ids)
    since = _since_ms(request)
    if since is not None:
        where += " AND modified_ms > ?"
        params = (*params, since)
        if not ctx(request).store.exists(where, params):
            return web.Response(status=304)
    sort_by = request.query.get("sort_by", "id")
    if sort_by not in SORT_COLUMNS:
        raise invalid_param("sort_by")
    default_order = "asc" if sort_by == "id" else "desc"
    sort_order = request.query.get("sort_order", default_order).lower()
    if sort_order not in ("asc", "desc"):
        raise invalid_param("sort_order")
    return run_listing(request, module, Listing(where, params, sort_by, sort_order), fields)


def _record_id(raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise invalid_id(raw) from None


def live_record(request: web.Request, module: ModuleDef, raw_id: str) -> StoredRecord:
    """The live record with this id in this module, or the documented INVALID_DATA."""
    record = ctx(request).store.get(module.api_name, _record_id(raw_id))
    if record is None or record.state != RecordState.LIVE:
        raise ZohoError(
            400,
            "INVALID_DATA",
            "the id given seems to be invalid",
            {"id": raw_id, "resource_path_index": 1},
        )
    return record


async def get_record(request: web.Request) -> web.Response:
    """``GET /{module}/{id}`` (record.json ``Get Record``); converted leads stay readable."""
    module = module_for(request.match_info["module"])
    record = live_record(request, module, request.match_info["id"])
    fields = requested_fields(request, module, required=False)
    return web.json_response({"data": [record_view(module, record, fields)]})


async def deleted_records(request: web.Request) -> web.Response:
    """``GET /{module}/deleted?type=all|recycle|permanent`` (record.json)."""
    module = module_for(request.match_info["module"])
    kind = request.query.get("type", "all")
    states = {"all": (1, 2), "recycle": (1,), "permanent": (2,)}.get(kind)
    if states is None:
        raise invalid_param("type")
    per_page = _int_param(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    page = _int_param(request, "page", 1, 1, 10**9)
    where = f"module = ? AND state IN ({', '.join('?' for _ in states)})"
    params: tuple[Any, ...] = (module.api_name, *states)
    since = _since_ms(request)
    if since is not None:
        where += " AND deleted_ms > ?"
        params = (*params, since)
        if not ctx(request).store.exists(where, params):
            return web.Response(status=304)
    rows = ctx(request).store.select(
        where, params, "deleted_ms DESC, id DESC", per_page + 1, (page - 1) * per_page
    )
    if not rows:
        return web.Response(status=204)
    data = [
        {
            "deleted_by": minified_user(),
            "id": str(r.id),
            "display_name": r.doc.get("$display_name") or module.display_name(r.doc),
            "type": "recycle" if r.state == RecordState.RECYCLE_BIN else "permanent",
            "created_by": r.doc.get("Created_By") or minified_user(),
            "deleted_time": zoho_time(r.deleted_ms or 0),
        }
        for r in rows[:per_page]
    ]
    info = {
        "per_page": per_page,
        "count": len(data),
        "page": page,
        "more_records": len(rows) > per_page,
    }
    return web.json_response({"data": data, "info": info})


def _search_condition(request: web.Request, module: ModuleDef) -> Condition:
    query = request.query
    if query.get("criteria"):
        return CriteriaParser(query["criteria"]).parse()
    if query.get("email"):
        email_fields = [f.api_name for f in module.fields if f.data_type == "email"]
        if not email_fields:
            raise invalid_param("email")
        return Logical("or", tuple(Compare(f, "=", (query["email"],)) for f in email_fields))
    if query.get("phone"):
        phone_fields = [f.api_name for f in module.fields if f.data_type == "phone"]
        return Logical("or", tuple(Compare(f, "=", (query["phone"],)) for f in phone_fields))
    if query.get("word"):
        pattern = f"%{query['word'].lower()}%"
        text_fields = [
            f.api_name
            for f in module.fields
            if f.data_type in ("text", "email", "phone") and not f.read_only
        ]
        return Logical("or", tuple(Compare(f, "like", (pattern,)) for f in text_fields))
    raise required_param_missing("criteria")


def _criteria_count(condition: Condition) -> int:
    if isinstance(condition, Logical):
        return sum(_criteria_count(c) for c in condition.children)
    return 1


async def search_records(request: web.Request) -> web.Response:
    """``GET /{module}/search`` with ``criteria`` | ``email`` | ``phone`` | ``word``."""
    module = module_for(request.match_info["module"])
    fields = requested_fields(request, module, required=False)
    try:
        parsed = _search_condition(request, module)
        if "criteria" in request.query and _criteria_count(parsed) > MAX_SEARCH_CRITERIA:
            raise ZohoError(
                400, "LIMIT_EXCEEDED", "criteria limit exceeded", {"limit": MAX_SEARCH_CRITERIA}
            )
        condition = compile_condition(module, parsed)
    except QueryError as exc:
        raise ZohoError(
            400, "INVALID_QUERY", "invalid query formed", {"reason": str(exc)}
        ) from None
    where, params = live_where(module)
    where = f"{where} AND {_converted_filter(request)} AND {condition.text}"
    listing = Listing(where, (*params, *condition.params), "id", "asc")
    per_page = _int_param(request, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    page = _int_param(request, "page", 1, 1, 10**9)
    if (page - 1) * per_page >= PAGE_LIMIT:
        raise ZohoError(400, "LIMIT_EXCEEDED", "Record count exceeded", {"limit": PAGE_LIMIT})
    return run_listing(request, module, listing, fields, page_limit=None)


async def count_records(request: web.Request) -> web.Response:
    """``GET /{module}/actions/count`` (record.json ``Record Count``)."""
    module = module_for(request.match_info["module"])
    where, params = live_where(module)
    where = f"{where} AND {_converted_filter(request)}"
    return web.json_response({"count": ctx(request).store.count(where, params)})
