"""Zoho Accounts OAuth (``POST /oauth/v2/token``) and the API's token check.

Token endpoint per common.json ``securitySchemes.iam-oauth2-schema`` and
https://www.zoho.com/crm/developer/docs/api/v8/refresh.html /
https://www.zoho.com/crm/developer/docs/api/v8/access-refresh.html: form (or query)
parameters, JSON answer. Like Zoho Accounts, a refused grant is answered with HTTP 200
and ``{"error": "invalid_client" | "invalid_code"}``.

More than 10 new access tokens per refresh token in 10 minutes are refused with
"Access Denied" (:mod:`crmsync_testbed.sim.zoho_accounts`).

API requests carry ``Authorization: Zoho-oauthtoken <token>``: a missing header gives
401 AUTHENTICATION_FAILURE, an unknown or expired token 401 INVALID_TOKEN.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from crmsync_testbed.sim import zoho_accounts
from crmsync_testbed.sim.zoho_crm.context import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, ctx
from crmsync_testbed.sim.zoho_crm.errors import ZohoError
from crmsync_testbed.sim.zoho_crm.store import CrmStore, now_ms

ACCESS_TOKEN_SECONDS = 3600
TOKEN_PREFIX = "Zoho-oauthtoken "
SCOPE = "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.notifications.ALL ZohoCRM.coql.READ"


def install_client(store: CrmStore) -> None:
    """Store the fixed OAuth client and refresh token (kept if already there)."""
    store.meta_default("oauth.client_id", CLIENT_ID)
    store.meta_default("oauth.client_secret", CLIENT_SECRET)
    store.meta_default("oauth.refresh_token", REFRESH_TOKEN)


def _client_ok(store: CrmStore, params: dict[str, str]) -> bool:
    return params.get("client_id") == store.get_meta("oauth.client_id") and params.get(
        "client_secret"
    ) == store.get_meta("oauth.client_secret")


def issue_grant_code(store: CrmStore) -> str:
    """A one-time authorization code (what the consent page would redirect with)."""
    code = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
    store.set_meta(f"oauth.grant_code.{code}", "unused")
    return code


def _mint_access_token(request: web.Request, refresh_token: str) -> dict[str, Any]:
    store = ctx(request).store
    token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
    store.save_access_token(token, refresh_token, now_ms() + ACCESS_TOKEN_SECONDS * 1000)
    return {
        "access_token": token,
        "scope": SCOPE,
        "api_domain": ctx(request).base_url,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECONDS,
    }


async def token_endpoint(request: web.Request) -> web.Response:
    """``POST /oauth/v2/token`` — grant types ``refresh_token`` and ``authorization_code``."""
    store = ctx(request).store
    form = await request.post()
    params = {**request.query, **{k: str(v) for k, v in form.items()}}
    if not _client_ok(store, params):
        return web.json_response({"error": "invalid_client"})
    grant_type = params.get("grant_type")
    if grant_type == "refresh_token":
        if params.get("refresh_token") != store.get_meta("oauth.refresh_token"):
            return web.json_response({"error": "invalid_code"})
        if not request.app[zoho_accounts.THROTTLE_KEY].admit(params["refresh_token"]):
            return zoho_accounts.access_denied()
        return web.json_response(_mint_access_token(request, params["refresh_token"]))
    if grant_type == "authorization_code":
        key = f"oauth.grant_code.{params.get('code', '')}"
        if store.get_meta(key) != "unused":
            return web.json_response({"error": "invalid_code"})
        refresh_token = str(store.get_meta("oauth.refresh_token"))
        if not request.app[zoho_accounts.THROTTLE_KEY].admit(refresh_token):
            return zoho_accounts.access_denied()
        store.set_meta(key, "used")
        body = _mint_access_token(request, refresh_token)
        return web.json_response({**body, "refresh_token": refresh_token})
    return web.json_response({"error": "unsupported_grant_type"})


async def revoke_endpoint(request: web.Request) -> web.Response:
    """``POST /oauth/v2/token/revoke?token=`` — accepted, the fixed refresh token stays."""
    return web.json_response({"status": "success"})


def check_token(request: web.Request) -> None:
    """Raise the documented 401 unless the request carries a live access token."""
    header = request.headers.get("Authorization", "")
    if not header.startswith(TOKEN_PREFIX):
        raise ZohoError(401, "AUTHENTICATION_FAILURE", "Authentication failed", {})
    expiry = ctx(request).store.access_token_expiry(header[len(TOKEN_PREFIX) :].strip())
    if expiry is None or expiry <= now_ms():
        raise ZohoError(401, "INVALID_TOKEN", "invalid oauth token", {})


async def admin_grant_code(request: web.Request) -> web.Response:
    """``POST /_admin/zoho_crm/grant_code`` → ``{"code"}`` for the authorization_code flow."""
    return web.json_response({"code": issue_grant_code(ctx(request).store)})


async def admin_expire_tokens(request: web.Request) -> web.Response:
    """``POST /_admin/zoho_crm/tokens/expire`` — every access token expires now."""
    ctx(request).store.expire_access_tokens()
    return web.json_response({"ok": True})
