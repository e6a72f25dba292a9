from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from crmsync_testbed.sim.vendor import SeedOptions
from crmsync_testbed.sim.zoho_crm import VENDOR
from tests.sim.zoho_crm.server import CrmServer, run_crm

SEEDED_CONTACTS = 2300
SEEDED_LEADS = 300


@pytest.fixture(scope="session")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmServer]:
    """One seeded local Zoho CRM for the session (2,300 contacts: past the 2,000 mark)."""
    data_dir = tmp_path_factory.mktemp("zoho_crm")
    VENDOR.seed(data_dir, SeedOptions(contacts=SEEDED_CONTACTS, leads=SEEDED_LEADS, random_seed=7))
    with run_crm(data_dir) as server:
        yield server


@pytest.fixture
def api(crm: CrmServer) -> Iterator[httpx.Client]:
    with crm.client() as client:
        yield client
