"""Who may read captured mail: the rules Zoho applies to its mailbox capture (seed 004),
applied by the local server to capture Notes (Notes with a ``$capture`` object).

Every API call acts as a user: the owner of the OAuth refresh token (the admin,
``CURRENT_USER``), or the user an access token from
``POST /_admin/zoho_crm/users/{id}/token`` was minted for. A capture Note is hidden:

- from everyone but its ``Owner`` (and the integration user that wrote it, which must read
  it back to deduplicate) when ``$capture.visibility`` is ``private`` (G2);
- from everyone when its ``Owner`` is a deactivated user (G6);
- from everyone when ``$capture.address`` is no longer the parent record's email (for a
  deal: its contact's email): after an address change only the new address's mail shows (G6).
"""

from __future__ import annotations

import secrets

from aiohttp import web

from crmsync_testbed.sim.fakedata import normalise_email
from crmsync_testbed.sim.zoho_crm.auth import ACCESS_TOKEN_SECONDS, SCOPE, TOKEN_PREFIX
from crmsync_testbed.sim.zoho_crm.context import CURRENT_USER, ctx
from crmsync_testbed.sim.zoho_crm.fields import MODULES, ModuleDef
from crmsync_testbed.sim.zoho_crm.store import CrmStore, RecordState, StoredRecord, now_ms

USER_REFRESH_PREFIX = "user:"


def acting_user_id(request: web.Request) -> str:
    token = request.headers.get("Authorization", "")[len(TOKEN_PREFIX) :].strip()
    row = (
        ctx(request)
        .store.conn.execute(
            "SELECT refresh_token FROM oauth_tokens WHERE access_token = ?", (token,)
        )
        .fetchone()
    )
    refresh = str(row["refresh_token"]) if row is not None else ""
    if refresh.startswith(USER_REFRESH_PREFIX):
        return refresh[len(USER_REFRESH_PREFIX) :]
    return str(CURRENT_USER["id"])


def parent_addresses(store: CrmStore, module: ModuleDef, record: StoredRecord) -> set[str] | None:
    """The record's current email(s); None when the module has none to compare."""
    if module.api_name == "Deals":
        contact = str((record.doc.get("Contact_Name") or {}).get("id") or "")
        other = store.get("Contacts", int(contact)) if contact.isdigit() else None
        if other is None or other.state != RecordState.LIVE:
            return set()
        return parent_addresses(store, MODULES["Contacts"], other)
    if module.email_field is None:
        return None
    names = (module.email_field, "Secondary_Email")
    return {
        str(normalise_email(record.doc[n])) for n in names if isinstance(record.doc.get(n), str)
    }


def visible_notes(
    request: web.Request, module: ModuleDef, record: StoredRecord, notes: list[StoredRecord]
) -> list[StoredRecord]:
    store = ctx(request).store
    reader = acting_user_id(request)
    users = {str(u["id"]): u for u in store.users()}
    addresses = parent_addresses(store, module, record)
    kept = []
    for note in notes:
        capture = note.doc.get("$capture")
        if not isinstance(capture, dict):
            kept.append(note)
            continue
        owner = str((note.doc.get("Owner") or {}).get("id", ""))
        creator = str((note.doc.get("Created_By") or {}).get("id", ""))
        if users.get(owner, {}).get("status") == "disabled":
            continue
        if capture.get("visibility") == "private" and reader not in (owner, creator):
            continue
        address = normalise_email(str(capture.get("address") or ""))
        if address and addresses is not None and address not in addresses:
            continue
        kept.append(note)
    return kept


async def admin_user_token(request: web.Request) -> web.Response:
    """``POST /_admin/zoho_crm/users/{id}/token``: an access token acting as that user."""
    store = ctx(request).store
    user_id = request.match_info["id"]
    if not any(str(u["id"]) == user_id for u in store.users()):
        return web.json_response({"error": "no such user", "id": user_id}, status=404)
    token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
    store.save_access_token(
        token, f"{USER_REFRESH_PREFIX}{user_id}", now_ms() + ACCESS_TOKEN_SECONDS * 1000
    )
    return web.json_response(
        {
            "access_token": token,
            "scope": SCOPE,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "user_id": user_id,
        }
    )
