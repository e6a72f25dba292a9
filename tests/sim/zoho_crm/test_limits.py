"""Zoho's own limits in the local Zoho CRM: token creation, concurrency and credits by edition."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from crmsync_testbed.sim.zoho_accounts import ACCESS_DENIED
from tests.sim.zoho_crm.server import CrmServer, run_crm


@pytest.fixture
def fresh_crm(tmp_path: Path) -> Iterator[CrmServer]:
    """Its own server: these tests spend the token budget of the refresh token."""
    with run_crm(tmp_path) as server:
        yield server


def mint(crm: CrmServer) -> httpx.Response:
    return httpx.post(f"{crm.base_url}/oauth/v2/token", data={
        "grant_type": "refresh_token",
        "client_id": crm.credentials["client_id"],
        "client_secret": crm.credentials["client_secret"],
        "refresh_token": crm.credentials["refresh_token"],
    })  # fmt: skip


def test_eleventh_access_token_in_ten_minutes_is_refused(fresh_crm: CrmServer) -> None:
    answers = [mint(fresh_crm) for _ in range(11)]
    assert all(a.status_code == 200 and "access_token" in a.json() for a in answers[:10])
    refused = answers[10]
    assert refused.status_code == 400
    assert refused.json() == ACCESS_DENIED
    assert refused.json()["error"] == "Access Denied"
    state = fresh_crm.admin("GET", "/_admin/zoho_crm/oauth_limits")
    assert state == {"tokens_per_window": 10, "window_seconds": 600.0,
                     "minted_in_window": 10, "refused": 1}  # fmt: skip
    code = fresh_crm.admin("POST", "/_admin/zoho_crm/grant_code")["code"]
    grant = httpx.post(f"{fresh_crm.base_url}/oauth/v2/token", data={
        "grant_type": "authorization_code", "code": code,
        "client_id": fresh_crm.credentials["client_id"],
        "client_secret": fresh_crm.credentials["client_secret"],
    })  # fmt: skip
    assert grant.status_code == 400 and grant.json() == ACCESS_DENIED


def test_the_window_slides(fresh_crm: CrmServer) -> None:
    fresh_crm.admin("PUT", "/_admin/zoho_crm/oauth_limits",
                    json={"tokens_per_window": 2, "window_seconds": 0.5})  # fmt: skip
    assert [mint(fresh_crm).status_code for _ in range(3)] == [200, 200, 400]
    time.sleep(0.6)
    assert mint(fresh_crm).status_code == 200
    fresh_crm.admin("POST", "/_admin/zoho_crm/oauth_limits/reset")
    assert fresh_crm.admin("GET", "/_admin/zoho_crm/oauth_limits")["minted_in_window"] == 0


def test_refused_grants_cost_nothing(fresh_crm: CrmServer) -> None:
    fresh_crm.admin("PUT", "/_admin/zoho_crm/oauth_limits", json={"tokens_per_window": 1})
    wrong = httpx.post(f"{fresh_crm.base_url}/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": "x", "client_secret": "y",
        "refresh_token": fresh_crm.credentials["refresh_token"],
    })  # fmt: skip
    assert wrong.json() == {"error": "invalid_client"}
    assert mint(fresh_crm).status_code == 200
    assert mint(fresh_crm).status_code == 400


@pytest.mark.parametrize(
    ("settings", "concurrency", "credits"),
    [
        ({"edition": "free"}, 5, 5_000),
        ({"edition": "standard", "users": 10}, 10, 52_500),
        ({"edition": "standard", "users": 1000}, 10, 100_000),
        ({"edition": "professional", "users": 20}, 15, 60_000),
        ({"edition": "enterprise", "users": 10, "addon_credits": 5_000}, 20, 65_000),
        ({"edition": "enterprise", "users": 5000}, 20, 2_000_000),
        ({"edition": "ultimate", "users": 5000}, 25, 10_050_000),
    ],
)
def test_limits_follow_the_edition(
    fresh_crm: CrmServer, settings: dict[str, object], concurrency: int, credits: int
) -> None:
    described = fresh_crm.admin("PUT", "/_admin/zoho_crm/limits", json=settings)
    assert described["concurrency_limit"] == concurrency
    assert described["daily_limit"] == credits


def test_default_org_is_standard_at_its_maximum(fresh_crm: CrmServer) -> None:
    described = fresh_crm.admin("GET", "/_admin/zoho_crm/credits")
    assert (described["edition"], described["concurrency_limit"], described["daily_limit"]) == (
        "standard",
        10,
        100_000,
    )


def test_edition_concurrency_refuses_the_next_call(fresh_crm: CrmServer) -> None:
    fresh_crm.admin("PUT", "/_admin/zoho_crm/limits", json={"edition": "free", "hold_ms": 400})
    with fresh_crm.client() as api, ThreadPoolExecutor(max_workers=7) as pool:
        answers = list(pool.map(lambda _: api.get("/Leads", params={"fields": "Email"}), range(7)))
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 2 and sum(a.status_code == 204 for a in answers) == 5
    assert refused[0].json() == {
        "code": "TOO_MANY_REQUESTS", "status": "error",
        "message": "The number of concurrent requests has exceeded the allowed limit",
        "details": {"limit": 5},
    }  # fmt: skip


def test_edition_survives_a_restart(tmp_path: Path) -> None:
    with run_crm(tmp_path) as first:
        first.admin("PUT", "/_admin/zoho_crm/limits",
                    json={"edition": "enterprise", "users": 30, "concurrency": 12})  # fmt: skip
    with run_crm(tmp_path) as second:
        described = second.admin("GET", "/_admin/zoho_crm/credits")
    assert (described["edition"], described["daily_limit"], described["concurrency_limit"]) == (
        "enterprise",
        80_000,
        12,
    )


def test_unknown_edition_is_refused(fresh_crm: CrmServer) -> None:
    response = httpx.put(f"{fresh_crm.base_url}/_admin/zoho_crm/limits", json={"edition": "gold"})
    assert response.status_code == 400
