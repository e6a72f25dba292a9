"""Zoho accounts' OAuth token endpoint, served by the local Campaigns server itself.

``POST /oauth/v2/token`` with ``grant_type=refresh_token``, ``client_id``,
``client_secret``, ``refresh_token`` (query or form) answers like accounts.zoho.com:
``{"access_token", "api_domain", "token_type": "Bearer", "expires_in": 3600}``, and on a
bad client or refresh token HTTP 200 with ``{"error": "invalid_client" | "invalid_code"}``
(https://www.zoho.com/campaigns/help/developers/access-token.html). More than 10 new
access tokens per refresh token in 10 minutes are refused with "Access Denied"
(:mod:`crmsync_testbed.sim.zoho_accounts`). API calls then send
``Authorization: Zoho-oauthtoken <access_token>``; see :mod:`.api`.
"""

from __future__ import annotations

from aiohttp import web

from crmsync_testbed.sim import zoho_accounts
from crmsync_testbed.sim.zoho_campaigns.api import STORE_KEY

CLIENT_ID = "1000.CRMSYNCSIMCAMPAIGNS"
CLIENT_SECRET = "crmsync-sim-zoho-campaigns-secret"
REFRESH_TOKEN = "1000.crmsync-sim-campaigns.refresh-token"
ACCESS_TOKEN_SECONDS = 3600
API_DOMAIN_KEY = web.AppKey("zoho_campaigns_api_domain", str)


async def token(request: web.Request) -> web.Response:
    params = dict(request.query)
    if request.can_read_body:
        params.update({key: str(value) for key, value in (await request.post()).items()})
    if params.get("grant_type") != "refresh_token":
        return web.json_response({"error": "unsupported_grant_type"})
    if params.get("client_id") != CLIENT_ID or params.get("client_secret") != CLIENT_SECRET:
        return web.json_response({"error": "invalid_client"})
    if params.get("refresh_token") != REFRESH_TOKEN:
        return web.json_response({"error": "invalid_code"})
    if not request.app[zoho_accounts.THROTTLE_KEY].admit(REFRESH_TOKEN):
        return zoho_accounts.access_denied()
    access_token = request.app[STORE_KEY].issue_token(ACCESS_TOKEN_SECONDS)
    return web.json_response(
        {
            "access_token": access_token,
            "api_domain": request.app[API_DOMAIN_KEY],
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
        }
    )


def add_routes(app: web.Application) -> None:
    zoho_accounts.install(app, "/_admin/zoho_campaigns")
    app.router.add_post("/oauth/v2/token", token)
