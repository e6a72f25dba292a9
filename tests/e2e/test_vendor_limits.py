"""The operator under Zoho's limit on new access tokens: one token per Connection, shared
by every sync, run and channel check (issue 12 point 4, issue 14 point 2)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import ZOHO_VENDORS, Stack
from tests.e2e.syncs import FAST_TRIGGER, Syncs, condition_of, create_people, marked, unique
from tests.e2e.vendors import CampaignsReader, CrmReader
from tests.simfixture import ZohoSimAuth

pytestmark = pytest.mark.e2e

SYNCS = 4
RUNS_EACH = 3


@pytest.fixture
def fresh_token_window(stack: Stack) -> Iterator[None]:
    """Zoho's own limit (10 new access tokens per refresh token per window) with an empty
    window: a client minting per run would need 16 here. The operator's few Connections
    on these refresh tokens may each mint once (one may be near its expiry after a long
    session), so the test allows a handful, not one."""
    for vendor in ZOHO_VENDORS:
        ZohoSimAuth(stack.sim.info[vendor]).token()
        stack.sim.set_token_limit(vendor, 10)
        stack.sim.admin(vendor, "POST", "oauth_limits/reset")
    yield
    for vendor in ZOHO_VENDORS:
        stack.sim.admin(vendor, "POST", "oauth_limits/reset")


@pytest.mark.usefixtures("fresh_token_window")
# Four syncs on one Zoho Campaigns list take turns (their claims are read and written as a
# whole), each run paced at Zoho Campaigns' documented per-method limits.
@pytest.mark.timeout(1200)
def test_many_syncs_and_runs_of_two_connections_need_one_token_each(
    stack: Stack, syncs: Syncs
) -> None:
    crm, campaigns = CrmReader(stack.sim), CampaignsReader(stack.sim)
    marker = unique("tokens")
    create_people(crm, "Contacts", marker, 2)
    listkey = campaigns.new_list(marker)
    names = [f"{marker}-{i}" for i in range(SYNCS)]
    for name in names:
        syncs.apply(name, {
            "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts",
                    "criteria": marked(marker)},
            "target": {"connectionRef": {"name": "campaigns"}, "listId": listkey},
            "trigger": FAST_TRIGGER,
        })  # fmt: skip
    for _ in range(RUNS_EACH):
        before = {name: syncs.sync_now(name) for name in names}
        for name in names:
            # The four runs on one list take turns, each paced at Zoho Campaigns' limits.
            body = syncs.wait_run(name, after=before[name], timeout=300)
            synced = condition_of(body, "Synced") or {}
            assert synced.get("status") == "True", synced
    for vendor in ZOHO_VENDORS:
        window = stack.sim.admin(vendor, "GET", "oauth_limits")
        assert window["refused"] == 0, (vendor, window)
        assert window["minted_in_window"] <= 3, (vendor, window)
