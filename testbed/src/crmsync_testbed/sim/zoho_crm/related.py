"""Related lists: campaign membership, records linked by lookup, Notes, captured Emails.

Spec: related_records.json (``GET|PUT|DELETE /{module}/{record_id}/{related_list}`` and
``.../{related_record_id}``); docs
https://www.zoho.com/crm/developer/docs/api/v8/get-related-records.html,
https://www.zoho.com/crm/developer/docs/api/v8/update-related-records.html,
https://www.zoho.com/crm/developer/docs/api/v8/create-notes.html,
https://www.zoho.com/crm/developer/docs/api/v8/get-email-rel-list.html.

- ``Campaigns`` on Leads/Contacts (and ``Leads``/``Contacts`` on Campaigns): membership
  with ``Member_Status``; written with PUT, removed with DELETE.
- Lookup-based lists, read-only here: Accounts → Contacts/Deals, Contacts → Deals,
  Campaigns → Deals.
- ``Notes``: GET, and POST to create (also ``POST /Notes`` with ``Parent_Id``).
- ``Emails``: GET answers ``email_related_list``. Zoho fills it from its own mailbox
  integration, which has no public write API; the local server fills it through
  ``POST /_admin/zoho_crm/emails/{module}/{id}``. Clients that capture mail write Notes.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_crm.context import ctx, minified_user
from crmsync_testbed.sim.zoho_crm.errors import (
    ZohoError,
    error_body,
    invalid_body,
    required_param_missing,
)
from crmsync_testbed.sim.zoho_crm.fields import MODULES, NOTES, ModuleDef, module_for
from crmsync_testbed.sim.zoho_crm.records import MAX_PER_PAGE, record_view, requested_fields
from crmsync_testbed.sim.zoho_crm.store import RecordState, StoredRecord, now_ms, zoho_time
from crmsync_testbed.sim.zoho_crm.visibility import visible_notes
from crmsync_testbed.sim.zoho_crm.writes import (
    RecordError,
    Writer,
    each_record,
    read_body,
    respond,
    run_writes,
)

MEMBER_STATUSES = (
    "Planned",
    "Invited",
    "Sent",
    "Received",
    "Opened",
    "Responded",
    "Bounced",
    "Opted Out",
    "Clicked",
    "Subscribed",
    "Unsubscribed",
)
CAMPAIGN_MEMBER_MODULES = ("Leads", "Contacts")
LOOKUP_LISTS = {
    ("Accounts", "Contacts"): "Account_Name",
    ("Accounts", "Deals"): "Account_Name",
    ("Contacts", "Deals"): "Contact_Name",
    ("Campaigns", "Deals"): "Campaign_Source",
}
"""(parent module, related list) → lookup field of the related module naming the parent."""
EMAILS = "Emails"


def _parent(request: web.Request) -> tuple[ModuleDef, StoredRecord]:
    module = module_for(request.match_info["module"])
    record = ctx(request).store.get(module.api_name, int(request.match_info["id"]))
    if record is None or record.state != RecordState.LIVE:
        raise ZohoError(
            400,
            "INVALID_DATA",
            "the id given seems to be invalid",
            {"id": request.match_info["id"], "resource_path_index": 1},
        )
    return module, record


def _list_name(request: web.Request, module: ModuleDef) -> str:
    name = request.match_info["related_list"]
    known = (
        (name == "Campaigns" and module.api_name in CAMPAIGN_MEMBER_MODULES)
        or (module.api_name == "Campaigns" and name in CAMPAIGN_MEMBER_MODULES)
        or (module.api_name, name) in LOOKUP_LISTS
        or name in ("Notes", EMAILS)
    )
    if not known:
        raise ZohoError(
            400, "INVALID_DATA", "invalid data", {"api_name": name, "resource_path_index": 2}
        )
    return name


def _paging(request: web.Request) -> tuple[int, int]:
    try:
        page = int(request.query.get("page", "1"))
        per_page = min(int(request.query.get("per_page", str(MAX_PER_PAGE))), MAX_PER_PAGE)
    except ValueError:
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "page"}) from None
    return max(page, 1), max(per_page, 1)


def _page(items: list[dict[str, Any]], page: int, per_page: int) -> web.Response:
    if not items:
        return web.Response(status=204)
    more = len(items) > per_page
    items = items[:per_page]
    info = {"per_page": per_page, "count": len(items), "page": page, "more_records": more}
    return web.json_response({"data": items, "info": info})


async def get_related(request: web.Request) -> web.Response:
    """``GET /{module}/{id}/{related_list}``."""
    module, record = _parent(request)
    name = _list_name(request, module)
    if name == EMAILS:
        return _emails(request, record)
    page, per_page = _paging(request)
    store = ctx(request).store
    offset = (page - 1) * per_page
    if name == "Campaigns" or (module.api_name == "Campaigns" and name in CAMPAIGN_MEMBER_MODULES):
        target = MODULES[name]
        fields = requested_fields(request, target, required=False)
        links = (
            store.relations(record.id, "Campaigns", per_page + 1, offset)
            if name == "Campaigns"
            else store.members(record.id, "Campaigns", name, per_page + 1, offset)
        )
        items = []
        for other_id, link in links:
            other = store.get(target.api_name, other_id)
            if other is not None and other.state == RecordState.LIVE:
                items.append({**record_view(target, other, fields), **link})
        return _page(items, page, per_page)
    if name == "Notes":
        # Capture notes are filtered by who reads (visibility.py), so page after filtering.
        rows = visible_notes(
            request,
            module,
            record,
            store.select(
                "module = 'Notes' AND parent_id = ? AND state = 0", (record.id,), "id DESC", -1, 0
            ),
        )[offset : offset + per_page + 1]
        fields = requested_fields(request, NOTES, required=False)
        return _page([record_view(NOTES, r, fields) for r in rows], page, per_page)
    target = MODULES[name]
    lookup = LOOKUP_LISTS[(module.api_name, name)]
    rows = store.select(
        f"module = ? AND state = 0 AND json_extract(doc, '$.{lookup}.id') = ?",
        (target.api_name, str(record.id)),
        "id",
        per_page + 1,
        offset,
    )
    fields = requested_fields(request, target, required=False)
    return _page([record_view(target, r, fields) for r in rows], page, per_page)


def _membership(
    store_record: StoredRecord, module: ModuleDef, item: Any, index: int, request: web.Request
) -> dict[str, Any]:
    """Link one campaign (or member) to the parent record with its Member_Status."""
    store = ctx(request).store
    if not isinstance(item, dict) or not str(item.get("id", "")).isdigit():
        raise RecordError(
            "INVALID_DATA", "invalid data", {"api_name": "id", "json_path": f"$.data[{index}].id"}
        )
    status = item.get("Member_Status")
    if status is not None and status not in MEMBER_STATUSES:
        raise RecordError(
            "INVALID_DATA",
            "invalid data",
            {"api_name": "Member_Status", "json_path": f"$.data[{index}].Member_Status"},
        )
    other_module = MODULES["Campaigns"] if module.api_name != "Campaigns" else None
    other_id = int(item["id"])
    if other_module is None:
        other = next(
            (
                store.get(m, other_id)
                for m in CAMPAIGN_MEMBER_MODULES
                if store.get(m, other_id) is not None
            ),
            None,
        )
    else:
        other = store.get(other_module.api_name, other_id)
    if other is None or other.state != RecordState.LIVE:
        raise RecordError(
            "INVALID_DATA",
            "the id given seems to be invalid",
            {"id": str(other_id), "json_path": f"$.data[{index}].id"},
        )
    person, campaign = (store_record, other) if other_module is not None else (other, store_record)
    store.relate(person.id, "Campaigns", campaign.id, {"Member_Status": status or "Planned"})
    return {
        "code": "SUCCESS",
        "details": {"id": str(other_id)},
        "message": "relation updated",
        "status": "success",
    }


def _require_membership_list(request: web.Request, module: ModuleDef) -> None:
    name = _list_name(request, module)
    if name != "Campaigns" and not (
        module.api_name == "Campaigns" and name in CAMPAIGN_MEMBER_MODULES
    ):
        raise ZohoError(
            400, "NOT_SUPPORTED", "invalid data", {"api_name": name, "resource_path_index": 2}
        )


async def put_related(request: web.Request) -> web.Response:
    """``PUT /{module}/{id}/Campaigns`` with ``{"data": [{"id", "Member_Status"}]}``."""
    module, record = _parent(request)
    _require_membership_list(request, module)
    data, _ = await read_body(request)
    with ctx(request).store.transaction():
        results = []
        for index, item in enumerate(data):
            try:
                results.append(_membership(record, module, item, index, request))
            except RecordError as exc:
                results.append(exc.body)
    return respond(results, 200)


async def put_related_one(request: web.Request) -> web.Response:
    """``PUT /{module}/{id}/{related_list}/{related_id}``."""
    module, record = _parent(request)
    _require_membership_list(request, module)
    try:
        body = await request.json()
    except json.JSONDecodeError:
        body = {}
    item = (body.get("data") or [{}])[0] if isinstance(body, dict) else {}
    item = {**item, "id": request.match_info["related_id"]}
    with ctx(request).store.transaction():
        try:
            result = _membership(record, module, item, 0, request)
        except RecordError as exc:
            result = exc.body
    return respond([result], 200)


def _unlink(
    request: web.Request, module: ModuleDef, record: StoredRecord, raw_id: str
) -> dict[str, Any]:
    store = ctx(request).store
    person_id, campaign_id = (
        (record.id, int(raw_id)) if module.api_name != "Campaigns" else (int(raw_id), record.id)
    )
    if not store.unrelate(person_id, "Campaigns", campaign_id):
        return error_body("INVALID_DATA", "the id given seems to be invalid", {"id": raw_id})
    return {
        "code": "SUCCESS",
        "details": {"id": raw_id},
        "message": "relation removed",
        "status": "success",
    }


async def delete_related(request: web.Request) -> web.Response:
    """``DELETE /{module}/{id}/Campaigns?ids=``."""
    module, record = _parent(request)
    _require_membership_list(request, module)
    ids = [i.strip() for i in request.query.get("ids", "").split(",") if i.strip().isdigit()]
    if not ids:
        raise required_param_missing("ids")
    return respond([_unlink(request, module, record, i) for i in ids], 200)


async def delete_related_one(request: web.Request) -> web.Response:
    module, record = _parent(request)
    _require_membership_list(request, module)
    return respond([_unlink(request, module, record, request.match_info["related_id"])], 200)


# --- Notes -----------------------------------------------------------------------------


async def post_related(request: web.Request) -> web.Response:
    """``POST /{module}/{id}/Notes`` — create notes under the record."""
    module, record = _parent(request)
    if _list_name(request, module) != "Notes":
        raise ZohoError(
            405, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one", {}
        )
    data, _ = await read_body(request)
    results = run_writes(
        request,
        NOTES,
        lambda w: each_record(
            w, data, lambda w, item, i: w.create(item, i, parent=(module, record))
        ),
    )
    return respond(results, 201)


def _note_parent(writer: Writer, item: Any, index: int) -> tuple[ModuleDef, StoredRecord]:
    parent = item.get("Parent_Id") if isinstance(item, dict) else None
    module_name = (
        (parent or {}).get("module", {}).get("api_name") if isinstance(parent, dict) else None
    )
    parent_id = str((parent or {}).get("id", "")) if isinstance(parent, dict) else ""
    if not module_name or not parent_id.isdigit():
        raise RecordError(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            {"api_name": "Parent_Id", "json_path": f"$.data[{index}].Parent_Id"},
        )
    try:
        module = module_for(str(module_name))
    except ZohoError:
        module = None
    record = writer.store.get(module.api_name, int(parent_id)) if module else None
    if module is None or record is None or record.state != RecordState.LIVE:
        raise RecordError(
            "INVALID_DATA",
            "invalid data",
            {"api_name": "Parent_Id", "json_path": f"$.data[{index}].Parent_Id"},
        )
    return module, record


async def create_notes(request: web.Request) -> web.Response:
    """``POST /Notes`` with ``Parent_Id {module: {api_name}, id}`` per note."""
    data, _ = await read_body(request)
    results = run_writes(
        request,
        NOTES,
        lambda w: each_record(
            w, data, lambda w, item, i: w.create(item, i, parent=_note_parent(w, item, i))
        ),
    )
    return respond(results, 201)


# --- Emails (captured mail) ------------------------------------------------------------


def _emails(request: web.Request, record: StoredRecord) -> web.Response:
    store = ctx(request).store
    per_page = min(int(request.query.get("per_page", "200")), MAX_PER_PAGE)
    index = max(int(request.query.get("index", "1")), 1)
    rows = store.select(
        "module = ? AND parent_id = ? AND state = 0",
        (EMAILS, record.id),
        "id DESC",
        per_page + 1,
        index - 1,
    )
    if not rows:
        return web.Response(status=204)
    mails = [{**r.doc, "message_id": r.doc.get("message_id") or str(r.id)} for r in rows[:per_page]]
    more = len(rows) > per_page
    info = {
        "per_page": per_page,
        "count": len(mails),
        "prev_index": None,
        "next_index": index + per_page if more else None,
        "more_records": more,
    }
    return web.json_response({"email_related_list": mails, "info": info})


async def admin_capture_email(request: web.Request) -> web.Response:
    """``POST /_admin/zoho_crm/emails/{module}/{id}``: what Zoho's mailbox capture would add.

    Body: ``{"from": {"email", "user_name"}, "to": [{"email", "user_name"}], "subject",
    "content", "sent_time"?, "message_id"?, "sent": bool}``.
    """
    module, record = _parent(request)
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise invalid_body() from None
    at = now_ms()
    mail = {
        "from": body.get("from"),
        "to": body.get("to", []),
        "cc": body.get("cc", []),
        "subject": body.get("subject"),
        "content": body.get("content"),
        "message_id": body.get("message_id"),
        "sent_time": body.get("sent_time", zoho_time(at)),
        "sent": bool(body.get("sent", False)),
        "owner": minified_user(),
        "status": [{"type": "sent" if body.get("sent") else "received"}],
        "thread_id": body.get("thread_id"),
        "source": "crm_mailbox",
    }
    store = ctx(request).store
    with store.transaction():
        mail_id = store.insert(EMAILS, mail, None, at, parent_id=record.id)
    return web.json_response({"id": str(mail_id), "module": module.api_name})
