"""Admin API of the local Zoho Campaigns server, under ``/_admin/zoho_campaigns``.

Not part of Zoho's contract: knobs for tests and demos, and the per-contact deletions the
public v1.1 API does not offer (it only has unsubscribe, Do-Not-Mail and deleting a whole
list with ``deletecontacts=on``).

- ``GET|PUT /plan`` — ``{"contact_limit": int | null}`` (marketing contacts allowed).
- ``PUT|DELETE /rate_limits`` — ``{"<method>": [{"calls", "window_seconds", "lock_seconds"}]}``
  replaces the documented limits of those methods and clears every lock; DELETE restores.
- ``POST /tokens/expire`` — expire every access token (clients must refresh).
- ``GET|PUT /oauth_limits``, ``POST /oauth_limits/reset`` — Zoho Accounts' limit on new
  access tokens (served by :mod:`crmsync_testbed.sim.zoho_accounts`).
- ``GET|DELETE /contacts/{email}`` — one contact across lists and topics / delete it org-wide.
- ``DELETE /lists/{listkey}/contacts/{email}`` — remove a contact from one list only.
- ``PUT /campaigns/{key}/status`` — ``{"status": "tobereviewed" | "reviewed" | "canceled" |
  "stopped" | "drafts"}``.
- ``POST /campaigns/{key}/simulate`` — :class:`ActivityRates` JSON; returns the report counts.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crmsync_testbed.sim.fakedata import normalise_email
from crmsync_testbed.sim.zoho_campaigns.api import LIMITER_KEY, STORE_KEY
from crmsync_testbed.sim.zoho_campaigns.campaigns import set_campaign_status
from crmsync_testbed.sim.zoho_campaigns.contacts import marketing_contact_count
from crmsync_testbed.sim.zoho_campaigns.errors import ZohoApiError
from crmsync_testbed.sim.zoho_campaigns.limits import Limit
from crmsync_testbed.sim.zoho_campaigns.reports import ActivityRates, simulate_activity
from crmsync_testbed.sim.zoho_campaigns.store import CampaignsStore
from crmsync_testbed.sim.zoho_campaigns.topics import contact_topics

PREFIX = "/_admin/zoho_campaigns"


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_limit: int | None = Field(None, ge=0)


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _not_found(what: str) -> web.Response:
    return web.json_response({"error": f"{what} not found"}, status=404)


def _plan_body(store: CampaignsStore) -> dict[str, Any]:
    return {
        "contact_limit": store.contact_limit,
        "marketing_contacts": marketing_contact_count(store),
    }


async def get_plan(request: web.Request) -> web.Response:
    return web.json_response(_plan_body(request.app[STORE_KEY]))


async def put_plan(request: web.Request) -> web.Response:
    try:
        plan = Plan.model_validate(await request.json())
    except (ValidationError, json.JSONDecodeError) as exc:
        return _bad_request(str(exc))
    store = request.app[STORE_KEY]
    store.contact_limit = plan.contact_limit
    return web.json_response(_plan_body(store))


async def put_rate_limits(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        overrides = {
            method: tuple(Limit.model_validate(item) for item in items)
            for method, items in dict(body).items()
        }
    except (ValidationError, json.JSONDecodeError, TypeError, ValueError) as exc:
        return _bad_request(str(exc))
    request.app[LIMITER_KEY].configure(overrides)
    return web.json_response(
        {m: [limit.model_dump() for limit in ls] for m, ls in overrides.items()}
    )


async def delete_rate_limits(request: web.Request) -> web.Response:
    request.app[LIMITER_KEY].configure({})
    return web.json_response({})


async def expire_tokens(request: web.Request) -> web.Response:
    return web.json_response({"expired": request.app[STORE_KEY].expire_tokens()})


def _email_key(request: web.Request) -> str:
    return normalise_email(request.match_info["email"]) or ""


async def get_contact(request: web.Request) -> web.Response:
    store, key = request.app[STORE_KEY], _email_key(request)
    row = store.one("SELECT * FROM contacts WHERE email_norm = ?", key)
    if row is None:
        return _not_found("contact")
    lists = store.all("SELECT listkey, status FROM list_members WHERE email_norm = ?", key)
    return web.json_response(
        {
            "contact_id": str(row["contact_id"]),
            "email": row["email"],
            "fields": json.loads(row["fields"]),
            "subscription_type": row["subscription_type"],
            "legal_basis": row["legal_basis"],
            "consent_status": row["consent_status"],
            "source": row["source"],
            "do_not_mail": bool(row["do_not_mail"]),
            "lists": {item["listkey"]: item["status"] for item in lists},
            "topics": contact_topics(store, key),
        }
    )


async def delete_contact(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    deleted = store.conn.execute(
        "DELETE FROM contacts WHERE email_norm = ?", (_email_key(request),)
    ).rowcount
    return web.json_response({"deleted": deleted}) if deleted else _not_found("contact")


async def delete_list_member(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    removed = store.conn.execute(
        "DELETE FROM list_members WHERE listkey = ? AND email_norm = ?",
        (request.match_info["listkey"], _email_key(request)),
    ).rowcount
    return web.json_response({"removed": removed}) if removed else _not_found("list member")


async def put_campaign_status(request: web.Request) -> web.Response:
    try:
        status = str((await request.json())["status"])
        new_status = set_campaign_status(request.app[STORE_KEY], request.match_info["key"], status)
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        return _bad_request(f"body must be {{'status': ...}}: {exc}")
    except ZohoApiError as exc:
        return _bad_request(exc.message)
    return web.json_response({"campaign_status": new_status})


async def simulate(request: web.Request) -> web.Response:
    try:
        raw = await request.json() if request.can_read_body else {}
        rates = ActivityRates.model_validate(raw)
        counts = simulate_activity(request.app[STORE_KEY], request.match_info["key"], rates)
    except (ValidationError, json.JSONDecodeError) as exc:
        return _bad_request(str(exc))
    except ZohoApiError as exc:
        return _bad_request(exc.message)
    return web.json_response(counts)


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get(f"{PREFIX}/plan", get_plan)
    router.add_put(f"{PREFIX}/plan", put_plan)
    router.add_put(f"{PREFIX}/rate_limits", put_rate_limits)
    router.add_delete(f"{PREFIX}/rate_limits", delete_rate_limits)
    router.add_post(f"{PREFIX}/tokens/expire", expire_tokens)
    router.add_get(f"{PREFIX}/contacts/{{email}}", get_contact)
    router.add_delete(f"{PREFIX}/contacts/{{email}}", delete_contact)
    router.add_delete(f"{PREFIX}/lists/{{listkey}}/contacts/{{email}}", delete_list_member)
    router.add_put(f"{PREFIX}/campaigns/{{key}}/status", put_campaign_status)
    router.add_post(f"{PREFIX}/campaigns/{{key}}/simulate", simulate)
