"""``GET /oauth2/metadata``: who an OAuth token belongs to and which data centre serves it.

Mailchimp serves it at ``https://login.mailchimp.com/oauth2/metadata``; an OAuth client
calls it with ``Authorization: OAuth <token>`` right after the token exchange and builds
its API base from ``api_endpoint`` (or ``dc``), as Mailchimp's OAuth guide
(https://mailchimp.com/developer/marketing/guides/access-user-data-oauth-2/) describes.
Locally the login host is this server, so ``api_endpoint`` and ``login_url`` point here.
"""

from __future__ import annotations

from aiohttp import web

from crmsync_testbed.sim.common import Handler
from crmsync_testbed.sim.mailchimp.auth import DATA_CENTER, OAUTH_TOKEN

PATH = "/oauth2/metadata"
USER_ID = 104857600


def _token(request: web.Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() in ("oauth", "bearer") else ""


def metadata_handler(base_url: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        if _token(request) != OAUTH_TOKEN:
            return web.json_response(
                {"error": "invalid_token", "error_description": "Invalid token"}, status=401
            )
        return web.json_response(
            {
                "dc": DATA_CENTER,
                "role": "owner",
                "accountname": "crmsync demo",
                "user_id": USER_ID,
                "login": {
                    "email": "owner@crmsync.example.com",
                    "avatar": None,
                    "login_id": USER_ID,
                    "login_name": "crmsync-demo",
                    "login_email": "owner@crmsync.example.com",
                },
                "login_url": base_url,
                "api_endpoint": base_url,
            }
        )

    return handle
