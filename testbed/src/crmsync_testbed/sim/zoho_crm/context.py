"""What every handler of the local Zoho CRM shares: the store, the notifier, the limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from crmsync_testbed.sim.zoho_crm.store import CrmStore

if TYPE_CHECKING:
    from crmsync_testbed.sim.zoho_crm.limits import Limits
    from crmsync_testbed.sim.zoho_crm.notifications import Notifier

CLIENT_ID = "1000.SIMCRMCLIENT0000000000000000000"
CLIENT_SECRET = "simcrmsecret0000000000000000000000000000"
REFRESH_TOKEN = "1000.simcrmrefresh00000000000000000.simcrmrefresh0000000000000000000"
"""Fixed OAuth client of the local server (``VENDOR.credentials``); stored in its db too."""

CURRENT_USER: dict[str, Any] = {
    "id": "5725767000000411001",
    "name": "Sim Admin",
    "email": "admin@crm.example.com",
    "full_name": "Sim Admin",
    "first_name": "Sim",
    "last_name": "Admin",
    "status": "active",
    "role": {"name": "CEO", "id": "5725767000000026005"},
    "profile": {"name": "Administrator", "id": "5725767000000026011"},
    "confirm": True,
    "time_zone": "UTC",
}
"""The user every API call acts as (the owner of the OAuth refresh token)."""


def minified_user(user: dict[str, Any] = CURRENT_USER) -> dict[str, Any]:
    return {"name": user["name"], "id": user["id"], "email": user["email"]}


@dataclass
class CrmContext:
    store: CrmStore
    base_url: str
    notifier: Notifier
    limits: Limits
    extra: dict[str, Any] = field(default_factory=dict)


CTX_KEY = web.AppKey("zoho_crm_context", CrmContext)


def ctx(request: web.Request) -> CrmContext:
    return request.app[CTX_KEY]


def api_version(request: web.Request) -> str:
    """``v8`` or ``v2`` (the alias), from the request path."""
    return "v2" if request.path.startswith("/crm/v2/") else "v8"
