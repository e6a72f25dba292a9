"""Zoho Accounts' limit on new access tokens, as the local Zoho Campaigns server enforces it."""

from __future__ import annotations

from crmsync_testbed.sim.zoho_accounts import ACCESS_DENIED
from tests.sim.zoho_campaigns.conftest import CampaignsClient


def test_eleventh_access_token_in_ten_minutes_is_refused(client: CampaignsClient) -> None:
    for _ in range(10):
        assert "access_token" in client.refresh()
    creds = client.credentials
    refused = client.http.post(f"{creds['accounts_url']}/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": creds["client_id"],
        "client_secret": creds["client_secret"], "refresh_token": creds["refresh_token"],
    })  # fmt: skip
    assert refused.status_code == 400
    assert refused.json() == ACCESS_DENIED
    assert client.get("getmailinglists")["code"] == "0"  # tokens already minted keep working
    state = client.admin("GET", "/zoho_campaigns/oauth_limits").json()
    assert (state["minted_in_window"], state["refused"]) == (10, 1)


def test_the_limit_is_a_setting(client: CampaignsClient) -> None:
    settings = {"tokens_per_window": 50, "window_seconds": 60}
    assert client.admin("PUT", "/zoho_campaigns/oauth_limits", settings).status_code == 200
    for _ in range(20):
        assert "access_token" in client.refresh()
    assert client.admin("PUT", "/zoho_campaigns/oauth_limits", {"window": 1}).status_code == 400
