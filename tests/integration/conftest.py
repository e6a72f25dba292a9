"""Clients under test, pointed at the session's local vendor servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crmsync.providers.factory import Endpoint
from crmsync.providers.http import RetryPolicy
from tests.simfixture import SimServers, ZohoSimAuth

FAST_RETRIES = RetryPolicy(max_attempts=8, max_elapsed=30, base_delay=0.01, max_delay=0.1)
"""Real backoff shape, test-sized delays."""


def zoho_endpoint(sim: SimServers, vendor: str, provider: str) -> Endpoint:
    info = sim.info[vendor]
    return Endpoint(
        provider=provider,
        credentials={
            "clientId": info["client_id"],
            "clientSecret": info["client_secret"],
            "refreshToken": info["refresh_token"],
        },
        api_base_url=sim.base_url(vendor),
        accounts_url=info["accounts_url"],
        max_concurrency=5,
        requests_per_second=500,
    )


@pytest.fixture
def crm_endpoint(sim: SimServers) -> Endpoint:
    return zoho_endpoint(sim, "zoho_crm", "zoho-crm")


@pytest.fixture
def campaigns_endpoint(sim: SimServers) -> Endpoint:
    return zoho_endpoint(sim, "zoho_campaigns", "zoho-campaigns")


@pytest.fixture
def mailchimp_endpoint(sim: SimServers) -> Endpoint:
    return Endpoint(
        provider="mailchimp",
        credentials={"apiKey": sim.info["mailchimp"]["api_key"]},
        api_base_url=sim.base_url("mailchimp"),
        max_concurrency=5,
        requests_per_second=500,
    )


@pytest.fixture
def no_faults(sim: SimServers) -> Iterator[None]:
    """Faults are server-wide: whatever a test sets is cleared when it ends."""
    yield
    for vendor in ("zoho_crm", "zoho_campaigns", "mailchimp"):
        sim.set_faults(vendor)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def route_calls(sim: SimServers, vendor: str, method: str, route: str) -> int:
    """Requests the server counted for one route template (``/3.0/lists/{list_id}``)."""
    rows: list[dict[str, Any]] = sim.counters(vendor)["requests"]
    return sum(r["count"] for r in rows if r["method"] == method and r["route"] == route)


def mailchimp_admin(sim: SimServers) -> httpx.Client:
    """A plain HTTP client on the Mailchimp server, for arranging state behind our back."""
    return httpx.Client(
        base_url=f"{sim.base_url('mailchimp')}/3.0",
        auth=("test", sim.info["mailchimp"]["api_key"]),
        timeout=30,
    )


def zoho_admin(sim: SimServers, vendor: str) -> httpx.Client:
    """A plain HTTP client with the tests' own Zoho access token."""
    return httpx.Client(
        base_url=sim.base_url(vendor), auth=ZohoSimAuth(sim.info[vendor]), timeout=30
    )
