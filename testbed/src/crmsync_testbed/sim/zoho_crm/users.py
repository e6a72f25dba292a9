"""Users (users.json ``Get Users``) and the organisation (``GET /org``).

The SDK asks ``GET /users?type=CurrentUser`` once to name its token; the mailbox feature
needs active / deactivated users. ``POST /_admin/zoho_crm/users`` adds or changes one
(``{"id"?, "email", "first_name", "last_name", "status": "active"|"disabled"}``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_crm.context import CURRENT_USER, ctx
from crmsync_testbed.sim.zoho_crm.errors import invalid_param
from crmsync_testbed.sim.zoho_crm.store import CrmStore

USER_TYPES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "AllUsers": lambda u: True,
    "ActiveUsers": lambda u: u["status"] == "active",
    "DeactiveUsers": lambda u: u["status"] == "disabled",
    "CurrentUser": lambda u: u["id"] == CURRENT_USER["id"],
    "AdminUsers": lambda u: u["profile"]["name"] == "Administrator",
}
ORG = {
    "id": "5725767000000000101",
    "company_name": "crmsync local org",
    "domain_name": "org812345678",
    "primary_email": CURRENT_USER["email"],
    "time_zone": "UTC",
    "currency": "Euro - EUR",
    "country_code": "EU",
    "zgid": "812345678",
    "license_details": {"paid": True, "paid_type": "enterprise", "users_license_purchased": 10},
}


def install_users(store: CrmStore) -> None:
    if not store.users():
        store.save_user(int(CURRENT_USER["id"]), CURRENT_USER)


async def list_users(request: web.Request) -> web.Response:
    kind = request.query.get("type", "AllUsers")
    keep = USER_TYPES.get(kind)
    if keep is None:
        raise invalid_param("type")
    found = [u for u in ctx(request).store.users() if keep(u)]
    if not found:
        return web.Response(status=204)
    info = {"per_page": 200, "count": len(found), "page": 1, "more_records": False}
    return web.json_response({"users": found, "info": info})


async def get_org(request: web.Request) -> web.Response:
    return web.json_response({"org": [ORG]})


async def admin_save_user(request: web.Request) -> web.Response:
    store = ctx(request).store
    body: dict[str, Any] = await request.json()
    existing = {u["id"]: u for u in store.users()}
    user_id = str(body.get("id") or int(max(existing)) + 1)
    first, last = body.get("first_name", ""), body.get("last_name", "User")
    user = {
        **CURRENT_USER,
        **existing.get(user_id, {}),
        "id": user_id,
        "first_name": first,
        "last_name": last,
        "name": f"{first} {last}".strip(),
        "full_name": f"{first} {last}".strip(),
        "profile": existing.get(user_id, {}).get(
            "profile", {"name": "Standard", "id": "5725767000000026014"}
        ),
        **{k: v for k, v in body.items() if k in ("email", "status")},
    }
    store.save_user(int(user_id), user)
    return web.json_response({"users": [user]})
