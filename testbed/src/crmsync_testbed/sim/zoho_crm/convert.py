"""Lead conversion: ``POST /Leads/{id}/actions/convert`` (convert_lead.json).

Docs: https://www.zoho.com/crm/developer/docs/api/v8/convert-lead.html.
The lead's values fill a new Contact (or the given ``Contacts.id``; ``overwrite`` copies
the lead's values onto it), an Account (the given ``Accounts.id``, else the account named
like the lead's Company, else a new one) and, when ``Deals`` is given, a new Deal linked to
both. Campaign memberships move to the contact. The lead leaves the default listing
(``converted=false``), keeps answering ``GET /Leads/{id}`` with ``$converted: true`` and
``$converted_detail``, and an ``update`` notification names it (affected field
``$converted``). Cost: 5 credits.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_crm.context import ctx, minified_user
from crmsync_testbed.sim.zoho_crm.errors import ZohoError
from crmsync_testbed.sim.zoho_crm.fields import (
    ACCOUNTS,
    CONTACTS,
    DEALS,
    LEAD_CONVERT_MAPPING,
    LEADS,
)
from crmsync_testbed.sim.zoho_crm.notifications import Change
from crmsync_testbed.sim.zoho_crm.records import live_record
from crmsync_testbed.sim.zoho_crm.store import RecordState, StoredRecord, zoho_time
from crmsync_testbed.sim.zoho_crm.writes import RecordError, Writer, respond


def _mapped(lead: StoredRecord, target: str) -> dict[str, Any]:
    return {
        dst: lead.doc[src]
        for src, dst in LEAD_CONVERT_MAPPING[target].items()
        if lead.doc.get(src) not in (None, "")
    }


def _given_id(options: dict[str, Any], key: str) -> int | None:
    value = options.get(key)
    raw = value.get("id") if isinstance(value, dict) else None
    if raw is None:
        return None
    if not str(raw).isdigit():
        raise RecordError(
            "INVALID_DATA", "invalid data", {"api_name": key, "json_path": f"$.data[0].{key}"}
        )
    return int(raw)


def _existing(writer: Writer, options: dict[str, Any], key: str) -> StoredRecord | None:
    record_id = _given_id(options, key)
    if record_id is None:
        return None
    record = writer.store.get(writer.module.api_name, record_id)
    if record is None or record.state != RecordState.LIVE:
        raise RecordError(
            "INVALID_DATA", "invalid data", {"api_name": key, "json_path": f"$.data[0].{key}"}
        )
    return record


def _ref(record_id: str, doc_name: str) -> dict[str, str]:
    return {"name": doc_name, "id": record_id}


def _account(writer: Writer, lead: StoredRecord, options: dict[str, Any]) -> dict[str, str] | None:
    existing = _existing(writer, options, "Accounts")
    if existing is None and lead.doc.get("Company"):
        found = writer.store.ids_by_field("Accounts", "Account_Name", lead.doc["Company"], 1)
        existing = writer.store.get("Accounts", found[0]) if found else None
    if existing is not None:
        return _ref(str(existing.id), ACCOUNTS.display_name(existing.doc))
    values = _mapped(lead, "Accounts")
    if not values.get("Account_Name"):
        return None
    result = writer.create(values, 0)
    return _ref(result["details"]["id"], values["Account_Name"])


def _contact(
    writer: Writer, lead: StoredRecord, options: dict[str, Any], account: dict[str, str] | None
) -> dict[str, str]:
    values = _mapped(lead, "Contacts")
    if account is not None:
        values["Account_Name"] = {"id": account["id"]}
    existing = _existing(writer, options, "Contacts")
    if existing is None:
        result = writer.create(values, 0)
        return _ref(result["details"]["id"], CONTACTS.display_name(values))
    if options.get("overwrite"):
        writer.update(existing, values, 0)
    return _ref(str(existing.id), CONTACTS.display_name(existing.doc))


def _deal(
    writer: Writer,
    options: dict[str, Any],
    contact: dict[str, str],
    account: dict[str, str] | None,
    lead: StoredRecord,
) -> dict[str, str] | None:
    given = options.get("Deals")
    if not isinstance(given, dict) or not given:
        return None
    values = {**_mapped(lead, "Deals"), **given, "Contact_Name": {"id": contact["id"]}}
    if account is not None:
        values["Account_Name"] = {"id": account["id"]}
    result = writer.create(values, 0)
    return _ref(result["details"]["id"], str(values.get("Deal_Name")))


async def convert_lead(request: web.Request) -> web.Response:
    context = ctx(request)
    lead = live_record(request, LEADS, request.match_info["id"])
    try:
        body = await request.json() if request.can_read_body else {}
    except json.JSONDecodeError:
        body = {}
    data = body.get("data") if isinstance(body, dict) else None
    options = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    if lead.converted:
        raise ZohoError(
            400, "ID_ALREADY_CONVERTED", "id already converted", {"resource_path_index": 1}
        )
    writers = {m.api_name: Writer(context.store, m) for m in (ACCOUNTS, CONTACTS, DEALS)}
    try:
        with context.store.transaction():
            account = _account(writers["Accounts"], lead, options)
            contact = _contact(writers["Contacts"], lead, options, account)
            deal = _deal(writers["Deals"], options, contact, account, lead)
            at = writers["Contacts"].at
            detail = {
                "convert_user": minified_user(),
                "contact": contact["id"],
                "account": account["id"] if account else None,
                "deal": deal["id"] if deal else None,
                "converted_time": zoho_time(at),
            }
            doc = {
                **lead.doc,
                "$converted_detail": detail,
                "Modified_Time": zoho_time(at),
                "Modified_By": minified_user(),
            }
            context.store.mark_converted(lead.id, doc, at)
            for campaign_id, link in context.store.relations(lead.id, "Campaigns", 10**6, 0):
                context.store.relate(int(contact["id"]), "Campaigns", campaign_id, link)
    except RecordError as exc:
        return web.json_response({"data": [exc.body]}, status=400)
    changes = [c for w in writers.values() for c in w.changes()]
    changes.append(Change("Leads", "update", [lead.id], {lead.id: {"$converted": True}}))
    context.notifier.publish(changes)
    result = {
        "code": "SUCCESS",
        "details": {"Contacts": contact, "Accounts": account, "Deals": deal},
        "message": "The record has been converted successfully",
        "status": "success",
    }
    return respond([result], 200)
