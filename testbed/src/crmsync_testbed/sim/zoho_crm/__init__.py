"""Local Zoho CRM (REST API v8, aliased under ``/crm/v2``) for tests and demos.

``VENDOR`` satisfies :class:`crmsync_testbed.sim.vendor.SimVendor`. See docs/sim-zoho-crm.md for
the endpoints, their sources and what is left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.common import FaultConfig
from crmsync_testbed.sim.vendor import SeedOptions
from crmsync_testbed.sim.zoho_crm.app import VENDOR_NAME, create_app
from crmsync_testbed.sim.zoho_crm.context import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN
from crmsync_testbed.sim.zoho_crm.seed import seed


class ZohoCrmVendor:
    name = VENDOR_NAME

    def create_app(
        self, data_dir: Path, base_url: str, faults: FaultConfig | None
    ) -> web.Application:
        return create_app(data_dir, base_url, faults)

    def credentials(self, base_url: str) -> dict[str, Any]:
        return {
            "accounts_url": base_url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN,
            "api_domain": base_url,
        }

    def seed(self, data_dir: Path, options: SeedOptions) -> dict[str, int]:
        return seed(data_dir, options)


VENDOR = ZohoCrmVendor()

__all__ = ["VENDOR", "ZohoCrmVendor"]
