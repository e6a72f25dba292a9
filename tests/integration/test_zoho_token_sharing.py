"""One Zoho access token per Connection, against the local servers' token limit
(10 new access tokens per refresh token per 10 minutes, as Zoho Accounts allows)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from crmsync.providers.factory import Endpoint, open_crm, open_target
from crmsync.providers.http import AuthError, CallStats, TransientError
from tests.integration.conftest import FAST_RETRIES, route_calls, unique
from tests.simfixture import SimServers

pytestmark = pytest.mark.usefixtures("no_faults")

TOKEN_ROUTE = "/oauth/v2/token"


@pytest.fixture
def token_budget(sim: SimServers) -> Iterator[None]:
    """Zoho's own limit with an empty window; emptied again for the tests that follow."""
    for vendor in ("zoho_crm", "zoho_campaigns"):
        sim.set_token_limit(vendor, 10)
        sim.admin(vendor, "POST", "oauth_limits/reset")
        sim.reset_counters(vendor)
    yield
    for vendor in ("zoho_crm", "zoho_campaigns"):
        sim.admin(vendor, "POST", "oauth_limits/reset")


def mints(sim: SimServers, vendor: str = "zoho_crm") -> int:
    return route_calls(sim, vendor, "POST", TOKEN_ROUTE)


async def one_run(endpoint: Endpoint) -> None:
    async with open_crm(endpoint, CallStats(), FAST_RETRIES) as crm:
        await crm.verify()
        await crm.fields("Contacts")


@pytest.mark.usefixtures("token_budget")
async def test_many_runs_and_checks_of_one_connection_mint_one_token(
    sim: SimServers, crm_endpoint: Endpoint, campaigns_endpoint: Endpoint
) -> None:
    endpoint = replace(crm_endpoint, connection=unique("e2e/crm"))
    for _ in range(12):
        await one_run(endpoint)
    await asyncio.gather(*(one_run(endpoint) for _ in range(50)))
    assert mints(sim) == 1

    campaigns = replace(campaigns_endpoint, connection=unique("e2e/campaigns"))
    for _ in range(12):
        async with open_target(campaigns, CallStats(), FAST_RETRIES) as target:
            await target.verify()
    assert mints(sim, "zoho_campaigns") == 1


@pytest.mark.usefixtures("token_budget")
async def test_expired_token_is_replaced_once_for_every_waiting_run(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    endpoint = replace(crm_endpoint, connection=unique("e2e/crm"))
    await one_run(endpoint)
    sim.admin("zoho_crm", "POST", "tokens/expire")
    await asyncio.gather(*(one_run(endpoint) for _ in range(30)))
    assert mints(sim) == 2


@pytest.mark.usefixtures("token_budget")
async def test_a_token_per_run_trips_zohos_limit(sim: SimServers, crm_endpoint: Endpoint) -> None:
    """The old behaviour: every run its own token (here: its own Connection identity)."""
    for _ in range(10):
        await one_run(replace(crm_endpoint, connection=unique("e2e/crm")))
    with pytest.raises(TransientError) as refused:
        await one_run(replace(crm_endpoint, connection=unique("e2e/crm")))
    assert refused.value.code == "Access Denied"
    assert route_calls(sim, "zoho_crm", "POST", TOKEN_ROUTE) == 11
    counted = sim.counters("zoho_crm")["requests"]
    assert any(r["route"] == TOKEN_ROUTE and r["status"] == 400 for r in counted)


@pytest.mark.usefixtures("token_budget")
async def test_rotated_credentials_get_their_own_token(
    sim: SimServers, crm_endpoint: Endpoint
) -> None:
    connection = unique("e2e/crm")
    endpoint = replace(crm_endpoint, connection=connection)
    await one_run(endpoint)
    revoked = replace(endpoint, credentials={**endpoint.credentials, "refreshToken": "revoked"})
    with pytest.raises(AuthError, match="invalid_code"):
        await one_run(revoked)
    await one_run(endpoint)
    assert mints(sim) == 3
