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
def one_new_token_allowed(stack: Stack) -> Iterator[None]:
    """Stricter than Zoho: one new access token per refresh token for the whole test (the
    operator's may be near its expiry). The test's own readers hold theirs already."""
    for vendor in ZOHO_VENDORS:
        ZohoSimAuth(stack.sim.info[vendor]).token()
        stack.sim.set_token_limit(vendor, 1)
        stack.sim.admin(vendor, "POST", "oauth_limits/reset")
    yield
    for vendor in ZOHO_VENDORS:
        stack.sim.set_token_limit(vendor, 10)
        stack.sim.admin(vendor, "POST", "oauth_limits/reset")


@pytest.mark.usefixtures("one_new_token_allowed")
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
            body = syncs.wait_run(name, after=before[name])
            synced = condition_of(body, "Synced") or {}
            assert synced.get("status") == "True", synced
    for vendor in ZOHO_VENDORS:
        window = stack.sim.admin(vendor, "GET", "oauth_limits")
        assert window["refused"] == 0, (vendor, window)
        assert window["minted_in_window"] <= 1, (vendor, window)
