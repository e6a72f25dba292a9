"""The official ``mailchimp-marketing`` SDK and the third-party ``mailchimp3`` client,
unchanged except for the base URL."""

from __future__ import annotations

import io
import json
import tarfile
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import mailchimp_marketing
import pytest
from mailchimp3 import MailChimp
from mailchimp3.mailchimpclient import MailChimpError
from mailchimp_marketing.api_client import ApiClientError

from tests.sim.mailchimp.conftest import NEW_LIST, email
from tests.sim.mailchimp.localserver import LocalMailchimp
from tests.sim.mailchimp.test_members import md5


@pytest.fixture
def sdk(mailchimp: LocalMailchimp) -> Any:
    client = mailchimp_marketing.Client({"api_key": mailchimp.api_key, "server": "us1"})
    # This SDK version keeps the URL on the ApiClient itself (there is no ``configuration``).
    client.api_client.host = mailchimp.api_url
    return client


def test_sdk_ping_root_and_lists(sdk: Any, mailchimp: LocalMailchimp) -> None:
    assert sdk.ping.get()["health_status"] == "Everything's Chimpy!"
    assert sdk.root.get_root()["account_name"] == "crmsync demo"
    created = sdk.lists.create_list({**NEW_LIST, "name": "sdk audience"})
    lists = sdk.lists.get_all_lists(count=1000)
    assert created["id"] in [item["id"] for item in lists["lists"]]
    assert mailchimp.list_id in [item["id"] for item in lists["lists"]]
    updated = sdk.lists.update_list(created["id"], {**NEW_LIST, "name": "renamed"})
    assert updated["name"] == "renamed"
    assert sdk.lists.get_list(created["id"], fields=["name"]) == {"name": "renamed"}


def test_sdk_members(sdk: Any, mailchimp: LocalMailchimp) -> None:
    list_id = mailchimp.list_id
    address = email("sdk")
    member = sdk.lists.set_list_member(
        list_id,
        md5(address),
        {
            "email_address": address,
            "status_if_new": "subscribed",
            "merge_fields": {"FNAME": "Søren"},
        },
    )
    assert member["status"] == "subscribed"
    assert sdk.lists.get_list_member(list_id, address)["merge_fields"]["FNAME"] == "Søren"
    sdk.lists.update_list_member(list_id, md5(address), {"merge_fields": {"LNAME": "Jørgensen"}})
    page = sdk.lists.get_list_members_info(
        list_id, count=1000, since_last_changed=member["last_changed"]
    )
    assert address in [m["email_address"] for m in page["members"]]
    sdk.lists.delete_list_member(list_id, md5(address))
    assert sdk.lists.get_list_member(list_id, md5(address))["status"] == "archived"
    with pytest.raises(ApiClientError) as refused:
        sdk.lists.add_list_member(list_id, {"email_address": "nope", "status": "subscribed"})
    assert refused.value.status_code == 400
    assert json.loads(refused.value.text)["title"] == "Invalid Resource"


def test_sdk_batch_subscribe_tags_and_merge_fields(sdk: Any, mailchimp: LocalMailchimp) -> None:
    list_id = sdk.lists.create_list({**NEW_LIST, "name": "sdk batch"})["id"]
    field = sdk.lists.add_list_merge_field(
        list_id, {"name": "Company", "type": "text", "tag": "COMPANY"}
    )
    assert field["tag"] == "COMPANY"
    assert "COMPANY" in [f["tag"] for f in sdk.lists.get_list_merge_fields(list_id)["merge_fields"]]
    addresses = [email("batch") for _ in range(3)]
    result = sdk.lists.batch_list_members(
        list_id,
        {
            "members": [{"email_address": a, "status": "subscribed"} for a in addresses]
            + [{"email_address": "bad"}]
        },
    )
    assert (result["total_created"], result["error_count"]) == (3, 1)
    sdk.lists.update_list_member_tags(
        list_id, md5(addresses[0]), {"tags": [{"name": "from-crm", "status": "active"}]}
    )
    assert (
        sdk.lists.get_list_member_tags(list_id, md5(addresses[0]))["tags"][0]["name"] == "from-crm"
    )
    assert sdk.lists.tag_search(list_id, name="from")["total_items"] == 1
    segments = sdk.lists.list_segments(list_id, type="static")
    assert segments["segments"][0]["member_count"] == 1


def test_sdk_batches_archive(sdk: Any, mailchimp: LocalMailchimp) -> None:
    list_id = mailchimp.list_id
    address = email("batchop")
    batch = sdk.batches.start(
        {
            "operations": [
                {
                    "method": "PUT",
                    "path": f"/lists/{list_id}/members/{md5(address)}",
                    "operation_id": "upsert-1",
                    "body": json.dumps({"email_address": address, "status_if_new": "subscribed"}),
                },
                {
                    "method": "GET",
                    "path": f"/lists/{list_id}/members/{md5('ghost@example.com')}",
                    "operation_id": "missing",
                },
            ]
        }
    )
    assert batch["status"] == "pending"
    deadline = time.monotonic() + 20
    while (status := sdk.batches.status(batch["id"]))["status"] != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert (status["finished_operations"], status["errored_operations"]) == (2, 1)
    assert batch["id"] in [b["id"] for b in sdk.batches.list()["batches"]]
    archive = httpx.get(status["response_body_url"])
    results: list[dict[str, Any]] = []
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        for info in tar.getmembers():
            extracted = tar.extractfile(info)
            if info.isfile() and extracted is not None:
                results += json.loads(extracted.read())
    by_id = {r["operation_id"]: r for r in results}
    assert by_id["upsert-1"]["status_code"] == 200
    assert json.loads(by_id["upsert-1"]["response"])["email_address"] == address
    assert by_id["missing"]["status_code"] == 404
    sdk.batches.delete_request(batch["id"])
    with pytest.raises(ApiClientError):
        sdk.batches.status(batch["id"])


def test_sdk_webhooks_and_interests(sdk: Any, mailchimp: LocalMailchimp) -> None:
    list_id = sdk.lists.create_list({**NEW_LIST, "name": "sdk hooks"})["id"]
    category = sdk.lists.create_list_interest_category(
        list_id, {"title": "Topics", "type": "checkboxes"}
    )
    interest = sdk.lists.create_interest_category_interest(
        list_id, category["id"], {"name": "Product news"}
    )
    address = email("groups")
    member = sdk.lists.set_list_member(
        list_id,
        md5(address),
        {
            "email_address": address,
            "status_if_new": "subscribed",
            "interests": {interest["id"]: True},
        },
    )
    assert member["interests"] == {interest["id"]: True}
    listed = sdk.lists.list_interest_category_interests(list_id, category["id"])
    assert listed["interests"][0]["subscriber_count"] == "1"
    hook = sdk.lists.create_list_webhook(list_id, {"url": f"{mailchimp.base_url}/_admin/faults"})
    assert hook["sources"] == {"user": True, "admin": True, "api": False}
    assert sdk.lists.get_list_webhooks(list_id)["total_items"] == 1
    sdk.lists.delete_list_webhook(list_id, hook["id"])
    assert sdk.lists.get_list_webhooks(list_id)["total_items"] == 0


def test_sdk_campaign_send_and_reports(sdk: Any, mailchimp: LocalMailchimp) -> None:
    list_id = sdk.lists.create_list({**NEW_LIST, "name": "sdk campaign"})["id"]
    addresses = [email("reader") for _ in range(40)]
    sdk.lists.batch_list_members(
        list_id, {"members": [{"email_address": a, "status": "subscribed"} for a in addresses]}
    )
    campaign = sdk.campaigns.create(
        {
            "type": "regular",
            "recipients": {"list_id": list_id},
            "settings": {
                "subject_line": "Spring news",
                "from_name": "Acme",
                "reply_to": "news@acme.example.com",
                "title": "Spring",
            },
        }
    )
    assert campaign["status"] == "save"
    sdk.campaigns.send(campaign["id"])
    assert sdk.campaigns.get(campaign["id"])["emails_sent"] == 40
    simulated = mailchimp.admin(
        "POST",
        f"/_admin/mailchimp/campaigns/{campaign['id']}/simulate",
        json={
            "open_rate": 0.5,
            "click_rate": 0.2,
            "hard_bounce_rate": 0.05,
            "unsubscribe_rate": 0.1,
            "seed": 7,
        },
    ).json()["generated"]
    report = sdk.reports.get_campaign_report(campaign["id"])
    assert report["emails_sent"] == 40
    assert report["opens"]["opens_total"] == simulated["open"]
    assert report["clicks"]["clicks_total"] == simulated["click"]
    assert report["unsubscribed"] == simulated["unsub"]
    activity = sdk.reports.get_email_activity_for_campaign(campaign["id"], count=1000)
    # Only recipients with activity; everyone sent the campaign is in sent-to.
    assert 0 < activity["total_items"] == len(activity["emails"]) < 40
    assert all(e["activity"] for e in activity["emails"])
    sent_to = sdk.reports.get_campaign_recipients(campaign["id"], count=1000)
    assert sent_to["total_items"] == 40
    assert {r["email_address"] for r in sent_to["sent_to"]} == set(addresses)
    bounced = [r for r in sent_to["sent_to"] if r["status"] in ("hard", "soft")]
    assert len(bounced) == report["bounces"]["hard_bounces"] + report["bounces"]["soft_bounces"]
    assert sum(r["open_count"] for r in sent_to["sent_to"]) == simulated["open"]
    actions = [a["action"] for e in activity["emails"] for a in e["activity"]]
    assert actions.count("open") == simulated["open"]
    opener = next(e for e in activity["emails"] if e["activity"])
    feed = sdk.lists.get_list_member_activity_feed(list_id, opener["email_id"])
    assert {"sent", opener["activity"][0]["action"]} <= {
        a["activity_type"] for a in feed["activity"]
    }
    stats = sdk.lists.get_list(list_id)["stats"]
    assert stats["unsubscribe_count"] == simulated["unsub"]
    assert sdk.campaigns.list(status="sent", list_id=list_id)["total_items"] == 1


def test_mailchimp3_client(mailchimp: LocalMailchimp) -> None:
    client = MailChimp(mc_api=mailchimp.api_key)
    client.base_url = f"{mailchimp.api_url}/"
    assert client.ping.get()["health_status"] == "Everything's Chimpy!"
    list_id = mailchimp.list_id
    address = email("mc3")
    member = client.lists.members.create_or_update(
        list_id, md5(address), {"email_address": address, "status_if_new": "subscribed"}
    )
    assert member["id"] == md5(address)
    everyone = client.lists.members.all(
        list_id, get_all=True, fields="members.email_address,total_items"
    )
    assert address in [m["email_address"] for m in everyone["members"]]
    client.lists.members.tags.update(
        list_id, md5(address), {"tags": [{"name": "mc3", "status": "active"}]}
    )
    assert client.lists.members.tags.all(list_id, md5(address))["tags"][0]["name"] == "mc3"
    with pytest.raises(MailChimpError) as exists:
        client.lists.members.create(list_id, {"email_address": address, "status": "subscribed"})
    assert exists.value.args[0]["title"] == "Member Exists"
    client.lists.members.delete_permanent(list_id, md5(address))
    with pytest.raises(MailChimpError):
        client.lists.members.get(list_id, md5(address))


def test_sdk_oauth_client_finds_its_data_centre(mailchimp: LocalMailchimp) -> None:
    """An OAuth-mode client: metadata first (dc, api_endpoint), then the SDK with the token."""
    token = mailchimp.credentials["access_token"]
    metadata = httpx.get(
        f"{mailchimp.base_url}/oauth2/metadata", headers={"Authorization": f"OAuth {token}"}
    ).json()
    client = mailchimp_marketing.Client({"access_token": token, "server": metadata["dc"]})
    client.api_client.host = f"{metadata['api_endpoint']}/3.0"
    assert client.ping.get()["health_status"] == "Everything's Chimpy!"
    assert client.automations.list(count=1000)["total_items"] == 0


def test_sdk_unsent_report_and_offset_filters(sdk: Any) -> None:
    created = sdk.lists.create_list({**NEW_LIST, "name": "sdk filters"})
    plus_two = (
        datetime.fromisoformat(created["date_created"])
        .astimezone(timezone(timedelta(hours=2)))
        .isoformat()
    )
    found = sdk.lists.get_all_lists(count=1000, since_date_created=plus_two)
    assert created["id"] in [item["id"] for item in found["lists"]]
    campaign = sdk.campaigns.create({"type": "regular", "recipients": {"list_id": created["id"]}})
    report = sdk.reports.get_campaign_report(campaign["id"])
    assert (report["emails_sent"], report["opens"]["unique_opens"]) == (0, 0)


def test_mailchimp3_automations_and_capped_count(mailchimp: LocalMailchimp) -> None:
    client = MailChimp(mc_api=mailchimp.api_key)
    client.base_url = f"{mailchimp.api_url}/"
    assert client.automations.all(get_all=True)["automations"] == []
    members = client.lists.members.all(mailchimp.list_id, count=2500, fields="total_items")
    assert "total_items" in members
