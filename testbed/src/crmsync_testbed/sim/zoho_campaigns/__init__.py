"""Local Zoho Campaigns server (API v1.1), faithful to Zoho's public docs.

See docs/sim-zoho-campaigns.md for every method served, the doc page followed, and what
is left out. The module-level :data:`VENDOR` is what ``crmsync sim serve`` loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.common import FaultConfig, new_app
from crmsync_testbed.sim.vendor import SeedOptions
from crmsync_testbed.sim.zoho_campaigns import (
    admin,
    auth,
    campaigns,
    contacts,
    fields,
    lists,
    reports,
    topics,
)
from crmsync_testbed.sim.zoho_campaigns.api import LIMITER_KEY, STORE_KEY
from crmsync_testbed.sim.zoho_campaigns.limits import RateLimiter
from crmsync_testbed.sim.zoho_campaigns.lists import DEFAULT_LIST_KEY
from crmsync_testbed.sim.zoho_campaigns.seed import ensure_defaults, seed
from crmsync_testbed.sim.zoho_campaigns.store import CampaignsStore
from crmsync_testbed.sim.zoho_campaigns.topics import DEFAULT_TOPIC_ID

NAME = "zoho_campaigns"


class ZohoCampaignsVendor:
    name = NAME

    def create_app(
        self, data_dir: Path, base_url: str, faults: FaultConfig | None
    ) -> web.Application:
        app = new_app(NAME, faults)
        store = CampaignsStore(data_dir)
        ensure_defaults(store)
        app[STORE_KEY] = store
        app[LIMITER_KEY] = RateLimiter()
        app[auth.API_DOMAIN_KEY] = base_url
        for module in (auth, lists, fields, contacts, topics, campaigns, reports, admin):
            module.add_routes(app)

        async def close_store(_: web.Application) -> None:
            store.close()

        app.on_cleanup.append(close_store)
        return app

    def credentials(self, base_url: str) -> dict[str, Any]:
        return {
            "accounts_url": base_url,
            "client_id": auth.CLIENT_ID,
            "client_secret": auth.CLIENT_SECRET,
            "refresh_token": auth.REFRESH_TOKEN,
            "list_key": DEFAULT_LIST_KEY,
            "topic_id": DEFAULT_TOPIC_ID,
        }

    def seed(self, data_dir: Path, options: SeedOptions) -> dict[str, int]:
        return seed(data_dir, options)


VENDOR = ZohoCampaignsVendor()
