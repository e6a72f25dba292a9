"""Zoho Campaigns pacing is per account and method, shared by every client of the account
(each run opens its own client; Zoho's limits do not reset when it does)."""

from __future__ import annotations

from typing import Any, cast

from crmsync.providers.zoho_auth import ZohoSession
from crmsync.providers.zoho_campaigns import ZohoCampaigns


def campaigns(account: str) -> ZohoCampaigns:
    session = cast(ZohoSession, cast(Any, type("Session", (), {"api": None})()))
    return ZohoCampaigns(session, account=account)


async def test_clients_of_one_account_share_their_method_buckets() -> None:
    first, second = campaigns("https://campaigns.test c1"), campaigns("https://campaigns.test c1")
    other = campaigns("https://campaigns.test c2")
    bucket = first._bucket("json/listsubscribe")
    assert second._bucket("json/listsubscribe") is bucket
    assert other._bucket("json/listsubscribe") is not bucket
    assert first._bucket("getlistsubscribers") is not bucket


async def test_a_client_without_account_paces_on_its_own() -> None:
    assert campaigns("")._bucket("x") is not campaigns("")._bucket("x")
