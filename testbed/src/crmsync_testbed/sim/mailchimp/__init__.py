"""A local Mailchimp Marketing API 3.0 server, faithful to the public contract.

See docs/sim-mailchimp.md for what is implemented and which source each part follows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.common import FaultConfig
from crmsync_testbed.sim.mailchimp.auth import API_KEY, DATA_CENTER, OAUTH_TOKEN
from crmsync_testbed.sim.mailchimp.seed import DEFAULT_LIST_ID
from crmsync_testbed.sim.vendor import SeedOptions


class MailchimpVendor:
    name = "mailchimp"

    def create_app(
        self, data_dir: Path, base_url: str, faults: FaultConfig | None
    ) -> web.Application:
        from crmsync_testbed.sim.mailchimp.app import create_app

        return create_app(data_dir, base_url, faults)

    def credentials(self, base_url: str) -> dict[str, Any]:
        return {
            "api_key": API_KEY,
            "server": DATA_CENTER,
            "list_id": DEFAULT_LIST_ID,
            "access_token": OAUTH_TOKEN,
        }

    def seed(self, data_dir: Path, options: SeedOptions) -> dict[str, int]:
        from crmsync_testbed.sim.mailchimp.seed import seed

        return seed(data_dir, options)


VENDOR = MailchimpVendor()
