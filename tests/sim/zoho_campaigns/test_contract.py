"""Every implemented method answers in its documented JSON shape (see schemas.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from tests.sim.zoho_campaigns import schemas
from tests.sim.zoho_campaigns.conftest import CampaignsClient


@dataclass
class World:
    listkey: str
    topic_id: str
    campaign_key: str


@pytest.fixture
def world(client: CampaignsClient) -> World:
    creds = client.credentials
    listkey, topic_id = creds["list_key"], creds["topic_id"]
    for number in range(5):
        info = {"Contact Email": f"person{number}@example.com", "First Name": f"P{number}"}
        answer = client.post(
            "json/listsubscribe", listkey=listkey, contactinfo=json.dumps(info), topic_id=topic_id
        )
        assert answer["code"] == "0", answer
    created = client.post(
        "createCampaign",
        campaignname="Spring news",
        from_email="news@crmsync.example",
        subject="Spring",
        list_details=json.dumps({listkey: []}),
    )
    campaign_key = created["campaignKey"]
    assert client.post("sendcampaign", campaignkey=campaign_key)["response"]["code"] == "200"
    simulated = client.admin(
        "POST", f"/zoho_campaigns/campaigns/{campaign_key}/simulate", {"seed": 1}
    )
    assert simulated.status_code == 200
    return World(listkey, topic_id, campaign_key)


Case = Callable[[CampaignsClient, World], dict[str, Any]]
CASES: dict[str, tuple[Case, dict[str, Any]]] = {
    "getmailinglists": (
        lambda c, w: c.get("getmailinglists", sort="asc"),
        schemas.GET_MAILING_LISTS,
    ),
    "getlistadvanceddetails": (
        lambda c, w: c.get("getlistadvanceddetails", listkey=w.listkey),
        schemas.LIST_ADVANCED_DETAILS,
    ),
    "addlistandcontacts": (
        lambda c, w: c.post(
            "addlistandcontacts",
            listname="Other",
            signupform="private",
            mode="newlist",
            emailids="a@example.com,b@example.com",
        ),
        schemas.LIST_KEY_AND_NAME,
    ),
    "deletemailinglist": (
        lambda c, w: c.get(
            "deletemailinglist",
            listkey=c.post(
                "addlistandcontacts", listname="Tmp", signupform="private", mode="newlist"
            )["listkey"],
        ),
        schemas.MESSAGE,
    ),
    "json/listsubscribe": (
        lambda c, w: c.post(
            "json/listsubscribe", listkey=w.listkey, contactinfo="{Contact Email:new@example.com}"
        ),
        schemas.MESSAGE,
    ),
    "json/listunsubscribe": (
        lambda c, w: c.post(
            "json/listunsubscribe",
            listkey=w.listkey,
            contactinfo='{"Contact Email":"person1@example.com"}',
        ),
        schemas.MESSAGE,
    ),
    "json/contactdonotmail": (
        lambda c, w: c.post("json/contactdonotmail", contactinfo="{Contact Email:dnm@example.com}"),
        schemas.MESSAGE,
    ),
    "addlistsubscribersinbulk": (
        lambda c, w: c.post(
            "addlistsubscribersinbulk", listkey=w.listkey, emailids="x@example.com"
        ),
        schemas.LIST_KEY_AND_NAME,
    ),
    "getlistsubscribers": (
        lambda c, w: c.get("getlistsubscribers", listkey=w.listkey, status="active", range=3),
        schemas.GET_LIST_SUBSCRIBERS,
    ),
    "listsubscriberscount": (
        lambda c, w: c.get("listsubscriberscount", listkey=w.listkey, status="active"),
        schemas.LIST_SUBSCRIBERS_COUNT,
    ),
    "contact/allfields": (lambda c, w: c.get("contact/allfields", type="json"), schemas.ALL_FIELDS),
    "getallcontactfields": (lambda c, w: c.get("getallcontactfields"), schemas.ALL_FIELDS),
    "custom/add": (
        lambda c, w: c.post(
            "custom/add", type="json", fieldname="Favourite Colour", fieldtype="Text"
        ),
        schemas.CUSTOM_FIELD,
    ),
    "topics GET": (lambda c, w: c.get("topics", details="{from_index:0,range:10}"), schemas.TOPICS),
    "topics POST": (
        lambda c, w: c.post("topics", details="{topic_name:Events,topic_desc:Event invitations}"),
        schemas.CREATE_TOPIC,
    ),
    "createCampaign": (
        lambda c, w: c.post(
            "createCampaign",
            campaignname="Draft one",
            from_email="a@crmsync.example",
            subject="Hi",
            list_details=f"{{{w.listkey}:[]}}",
        ),
        schemas.CREATE_CAMPAIGN,
    ),
    "recentcampaigns": (lambda c, w: c.get("recentcampaigns", range=10), schemas.RECENT_CAMPAIGNS),
    "recentsentcampaigns": (
        lambda c, w: c.get("recentsentcampaigns", limit=5),
        schemas.RECENT_SENT_CAMPAIGNS,
    ),
    "getcampaigndetails": (
        lambda c, w: c.get("getcampaigndetails", campaignkey=w.campaign_key, campaigntype="normal"),
        schemas.CAMPAIGN_DETAILS,
    ),
    "sendcampaign": (
        lambda c, w: c.post(
            "sendcampaign",
            campaignkey=c.post(
                "createCampaign",
                campaignname="Second",
                from_email="a@crmsync.example",
                subject="Hi",
                list_details=json.dumps({w.listkey: []}),
            )["campaignKey"],
        ),
        schemas.SEND_CAMPAIGN,
    ),
    "campaignreports": (
        lambda c, w: c.get("campaignreports", campaignkey=w.campaign_key),
        schemas.CAMPAIGN_REPORTS,
    ),
    "getcampaignrecipientsdata": (
        lambda c, w: c.post(
            "getcampaignrecipientsdata", campaignkey=w.campaign_key, action="sentcontacts"
        ),
        schemas.CAMPAIGN_RECIPIENTS,
    ),
}


@pytest.mark.parametrize("method", list(CASES))
def test_response_matches_documented_shape(
    client: CampaignsClient, world: World, method: str
) -> None:
    call, schema = CASES[method]
    answer = call(client, world)
    jsonschema.validate(answer, schema)


def test_token_endpoint_shape(client: CampaignsClient) -> None:
    jsonschema.validate(client.refresh(), schemas.TOKEN)


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        (
            "json/listsubscribe",
            {"listkey": "nope", "contactinfo": "{Contact Email:a@b.co}"},
            "2501",
        ),
        ("json/listsubscribe", {"contactinfo": "{Contact Email:not-an-email}"}, "2004"),
        ("json/listsubscribe", {"contactinfo": "{Contact Email:postmaster@example.com}"}, "2005"),
        ("json/listsubscribe", {"contactinfo": "Contact Email=a@b.co"}, "2001"),
        ("addlistsubscribersinbulk", {}, "903"),
        (
            "addlistandcontacts",
            {"listname": "crmsync demo", "signupform": "private", "mode": "newlist"},
            "2205",
        ),
        ("getlistsubscribers", {"listkey": "nope"}, "2501"),
        ("custom/add", {"fieldname": "First Name", "fieldtype": "Text"}, "916"),
        ("topics", {"details": "{topic_name:Newsletter,topic_desc:again}"}, "4013"),
        ("createCampaign", {"campaignname": "x", "from_email": "a@b.co", "subject": "s"}, "6606"),
        ("sendcampaign", {"campaignkey": "nope"}, "6301"),
        ("campaignreports", {"campaignkey": "nope"}, "6002"),
    ],
)
def test_errors_use_the_documented_envelope_and_codes(
    client: CampaignsClient, method: str, params: dict[str, str], code: str
) -> None:
    if "listkey" not in params and method in ("json/listsubscribe", "addlistsubscribersinbulk"):
        params = {**params, "listkey": client.credentials["list_key"]}
    response = client.raw("POST", method, **params)
    assert response.status_code == 200
    body = response.json()
    jsonschema.validate(body, schemas.ERROR)
    assert body["code"] == code, body


def test_requests_without_a_valid_oauth_token_are_refused(client: CampaignsClient) -> None:
    url = f"{client.server.base_url}/api/v1.1/getmailinglists"
    for headers in ({}, {"Authorization": "Zoho-oauthtoken wrong"}):
        response = client.http.get(url, params={"resfmt": "JSON"}, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "1007"


def test_refresh_with_wrong_client_or_token_fails_like_zoho_accounts(
    client: CampaignsClient,
) -> None:
    creds = client.credentials
    url = f"{creds['accounts_url']}/oauth/v2/token"
    base = {"grant_type": "refresh_token", "client_id": creds["client_id"],
            "client_secret": creds["client_secret"], "refresh_token": creds["refresh_token"]}  # fmt: skip
    assert client.http.post(url, data={**base, "client_secret": "x"}).json() == {
        "error": "invalid_client"
    }
    assert client.http.post(url, data={**base, "refresh_token": "x"}).json() == {
        "error": "invalid_code"
    }


def test_expired_tokens_must_be_refreshed(client: CampaignsClient) -> None:
    assert client.get("getmailinglists")["code"] == "0"
    assert client.admin("POST", "/zoho_campaigns/tokens/expire").status_code == 200
    assert client.raw("GET", "getmailinglists").status_code == 401
    client.refresh()
    assert client.get("getmailinglists")["code"] == "0"


def test_xml_is_refused_with_the_resfmt_code(client: CampaignsClient) -> None:
    assert client.get("getmailinglists", resfmt="XML")["code"] == "1001"
