"""The small interface each local vendor server module implements.

A vendor module (``crmsync_testbed.sim.mailchimp``, ``crmsync_testbed.sim.zoho_crm``,
``crmsync_testbed.sim.zoho_campaigns``) exposes a module-level object named ``VENDOR`` that
satisfies :class:`SimVendor`. ``crmsync sim serve`` and ``crmsync sim seed`` and the
test fixtures only go through this interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from crmsync_testbed.sim.common import FaultConfig


@dataclass(frozen=True)
class SeedOptions:
    """How much realistic data to generate, and how messy it is."""

    contacts: int = 1000
    leads: int = 0
    accounts: int = 0
    deals: int = 0
    invalid_email_rate: float = 0.01
    duplicate_email_rate: float = 0.01
    opted_out_rate: float = 0.03
    converted_lead_rate: float = 0.05
    random_seed: int = 42


class SimVendor(Protocol):
    name: str
    """Key in the JSON line that ``crmsync sim serve`` prints (``zoho_crm`` …)."""

    def create_app(
        self, data_dir: Path, base_url: str, faults: FaultConfig | None
    ) -> web.Application:
        """The server: routes added to :func:`crmsync_testbed.sim.common.new_app`; data under data_dir."""
        ...

    def credentials(self, base_url: str) -> dict[str, Any]:
        """What a client needs besides the base URL (API key, OAuth client, seeded ids)."""
        ...

    def seed(self, data_dir: Path, options: SeedOptions) -> dict[str, int]:
        """Fill the data under data_dir (server may be running); returns counts created."""
        ...
