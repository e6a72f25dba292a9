"""A third-party client's view: the requests Airbyte's Zoho Campaigns connector makes.

No Python client for Zoho Campaigns exists on PyPI (the package index list has Zoho CRM,
Books, Creator … SDKs, none for Campaigns), so there is no SDK to drive unchanged. The
closest third-party consumer is Airbyte's declarative connector
(airbytehq/airbyte, airbyte-integrations/connectors/source-zoho-campaign/manifest.yaml):
its requests and record selectors were written against the live API. This test replays
them — same paths, HTTP methods, parameters, OAuth refresh, ``fromindex``/``range`` offset
pagination — and checks each stream's records exist where the connector reads them and
carry its primary keys.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.sim.zoho_campaigns.conftest import CampaignsClient

PAGE = 100


def _token(http: httpx.Client, creds: dict[str, Any]) -> str:
    """Airbyte's OAuthAuthenticator: grant_type=refresh_token to token_refresh_endpoint."""
    answer = http.post(
        f"{creds['accounts_url']}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "refresh_token": creds["refresh_token"],
        },
    ).json()
    return str(answer["access_token"])


def _records(
    http: httpx.Client,
    url: str,
    headers: dict[str, str],
    selector: str | None,
    params: dict[str, str],
    *,
    method: str = "GET",
    paginate: bool = False,
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    offset = 0
    while True:
        query = {"resfmt": "JSON", **params}
        if paginate:
            query |= {"fromindex": str(offset), "range": str(PAGE)}
        body = http.request(method, url, params=query, headers=headers).json()
        found = body if selector is None else body.get(selector, [])
        page = found if isinstance(found, list) else [found]
        records += page
        if not paginate or len(page) < PAGE:
            return records
        offset += PAGE


def test_airbyte_streams_read_their_records(client: CampaignsClient) -> None:
    creds = client.credentials
    listkey = creds["list_key"]
    for batch in range(15):
        emails = ",".join(f"ab{batch}-{n}@example.com" for n in range(10))
        assert (
            client.post("addlistsubscribersinbulk", listkey=listkey, emailids=emails)["code"] == "0"
        )
    key = client.post(
        "createCampaign", campaignname="Airbyte", from_email="a@crmsync.example", subject="s",
        list_details=json.dumps({listkey: []}),
    )["campaignKey"]  # fmt: skip
    client.post("sendcampaign", campaignkey=key)
    client.admin("POST", f"/zoho_campaigns/campaigns/{key}/simulate", {"seed": 3})

    http = client.http
    base = f"{client.server.base_url}/api/v1.1"
    headers = {"Authorization": f"Zoho-oauthtoken {_token(http, creds)}"}

    lists = _records(http, f"{base}/getmailinglists", headers, "list_of_details", {}, paginate=True)
    assert all(row["listunino"] for row in lists)
    subscribers = _records(
        http, f"{base}/getlistsubscribers", headers, "list_of_details",
        {"listkey": lists[0]["listkey"]}, paginate=True,
    )  # fmt: skip
    active = client.get("listsubscriberscount", listkey=listkey, status="active")["no_of_contacts"]
    assert len({row["contact_email"] for row in subscribers}) == int(active) > 140
    campaigns = _records(
        http, f"{base}/recentcampaigns", headers, "recent_campaigns", {}, paginate=True
    )
    assert [c["campaign_key"] for c in campaigns] == [key]
    reports = _records(
        http, f"{base}/campaignreports", headers, "campaign-reports", {"campaignkey": key}
    )
    assert reports[0]["campaign_name"] == "Airbyte"
    for action in ("sentleads", "openedleads", "senthardbounce", "unopenedleads"):
        recipients = _records(
            http, f"{base}/getcampaignrecipientsdata", headers, "list_of_details",
            {"campaignkey": key, "action": action}, method="POST", paginate=True,
        )  # fmt: skip
        assert all(r["contactid"] and r["sent_time"] for r in recipients)
    sent = _records(http, f"{base}/recentsentcampaigns", headers, "recent_sent_campaigns", {})
    assert sent[0]["campaign_key"] == key
    totals = _records(http, f"{base}/listsubscriberscount", headers, None, {"listkey": listkey})
    assert totals[0]["status"] == "success"
    topics = _records(http, f"{base}/topics", headers, "topicDetails", {})
    assert topics[0]["topicId"] == creds["topic_id"]
    details = _records(
        http, f"{base}/getcampaigndetails", headers, "campaign-details",
        {"campaignkey": key, "campaigntype": "abtesting"},
    )  # fmt: skip
    assert details[0]["campaign_name"] == "Airbyte"
