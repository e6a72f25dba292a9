"""Every implemented endpoint, requests and responses checked against the OpenAPI document."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.sim.mailchimp.conftest import NEW_LIST, email
from tests.sim.mailchimp.contract import CheckedClient, Contract
from tests.sim.mailchimp.localserver import LocalMailchimp
from tests.sim.mailchimp.test_members import md5


@pytest.fixture
def checked(mailchimp: LocalMailchimp, contract: Contract) -> Iterator[CheckedClient]:
    with mailchimp.client() as client:
        yield CheckedClient(client, contract)


def test_account_lists_and_members(checked: CheckedClient) -> None:
    call = checked.request
    assert call("GET", "/").status_code == 200
    assert call("GET", "/ping").status_code == 200
    list_id = call("POST", "/lists", json_body=NEW_LIST).json()["id"]
    call("GET", "/lists", params={"count": 5})
    call("GET", f"/lists/{list_id}")
    call("PATCH", f"/lists/{list_id}", json_body={**NEW_LIST, "name": "renamed"})
    field = call(
        "POST",
        f"/lists/{list_id}/merge-fields",
        json_body={"name": "Birthday", "type": "birthday", "tag": "BDAY"},
    ).json()
    call("GET", f"/lists/{list_id}/merge-fields")
    call("GET", f"/lists/{list_id}/merge-fields/{field['merge_id']}")
    call(
        "PATCH", f"/lists/{list_id}/merge-fields/{field['merge_id']}", json_body={"name": "Born on"}
    )
    address = email("contract")
    member = f"/lists/{list_id}/members/{md5(address)}"
    call(
        "PUT",
        member,
        json_body={
            "email_address": address,
            "status_if_new": "subscribed",
            "merge_fields": {"BDAY": "04/30"},
        },
    )
    call(
        "POST",
        f"/lists/{list_id}/members",
        json_body={"email_address": email(), "status": "pending", "tags": ["new"]},
    )
    call("GET", member)
    call("PATCH", member, json_body={"vip": True})
    call("GET", f"/lists/{list_id}/members", params={"status": "subscribed", "count": 2})
    call(
        "POST",
        f"/lists/{list_id}/members/{md5(address)}/tags",
        json_body={"tags": [{"name": "t1", "status": "active"}]},
    )
    call("GET", f"/lists/{list_id}/members/{md5(address)}/tags")
    call("GET", f"/lists/{list_id}/tag-search", params={"name": "t"})
    batch = {
        "members": [
            {"email_address": email(), "status": "subscribed"},
            {"email_address": "broken"},
        ],
        "update_existing": True,
    }
    assert call("POST", f"/lists/{list_id}", json_body=batch).json()["error_count"] == 1
    segment = call(
        "POST", f"/lists/{list_id}/segments", json_body={"name": "seg", "static_segment": [address]}
    ).json()
    segment_path = f"/lists/{list_id}/segments/{segment['id']}"
    call("GET", f"/lists/{list_id}/segments")
    call("GET", segment_path)
    call("PATCH", segment_path, json_body={"name": "seg2"})
    call("POST", segment_path, json_body={"members_to_add": [address], "members_to_remove": []})
    call("GET", f"{segment_path}/members")
    call("POST", f"{segment_path}/members", json_body={"email_address": address})
    call("DELETE", f"{segment_path}/members/{md5(address)}")
    call("DELETE", segment_path)
    category = call(
        "POST",
        f"/lists/{list_id}/interest-categories",
        json_body={"title": "Topics", "type": "checkboxes"},
    ).json()
    category_path = f"/lists/{list_id}/interest-categories/{category['id']}"
    call("GET", f"/lists/{list_id}/interest-categories")
    call("GET", category_path)
    call("PATCH", category_path, json_body={"title": "Subjects", "type": "checkboxes"})
    interest = call("POST", f"{category_path}/interests", json_body={"name": "News"}).json()
    call("GET", f"{category_path}/interests")
    call("GET", f"{category_path}/interests/{interest['id']}")
    call("PATCH", f"{category_path}/interests/{interest['id']}", json_body={"name": "Updates"})
    call("DELETE", f"{category_path}/interests/{interest['id']}")
    call("DELETE", category_path)
    call("GET", f"/lists/{list_id}/webhooks")
    call("DELETE", member)
    call("POST", f"{member}/actions/delete-permanent")
    call("DELETE", f"/lists/{list_id}/merge-fields/{field['merge_id']}")
    call("DELETE", f"/lists/{list_id}")


def test_campaigns_reports_and_batches(checked: CheckedClient, mailchimp: LocalMailchimp) -> None:
    call = checked.request
    list_id = call("POST", "/lists", json_body=NEW_LIST).json()["id"]
    addresses = [email("reader") for _ in range(20)]
    call(
        "POST",
        f"/lists/{list_id}",
        json_body={"members": [{"email_address": a, "status": "subscribed"} for a in addresses]},
    )
    settings = {
        "subject_line": "Hello",
        "from_name": "Acme",
        "reply_to": "news@acme.example.com",
        "title": "Hello",
    }
    campaign = call(
        "POST",
        "/campaigns",
        json_body={"type": "regular", "recipients": {"list_id": list_id}, "settings": settings},
    ).json()
    path = f"/campaigns/{campaign['id']}"
    call("GET", "/campaigns", params={"status": "save"})
    call("PATCH", path, json_body={"settings": {**settings, "preview_text": "Spring"}})
    call("PUT", f"{path}/content", json_body={"html": "<p>Hello *|FNAME|*</p>"})
    call("GET", f"{path}/content")
    assert call("POST", f"{path}/actions/send").status_code == 204
    call("GET", path)
    mailchimp.admin(
        "POST",
        f"/_admin/mailchimp/campaigns/{campaign['id']}/simulate",
        json={"open_rate": 0.6, "unsubscribe_rate": 0.2, "seed": 3},
    )
    call("GET", "/reports")
    call("GET", f"/reports/{campaign['id']}")
    call("GET", f"/reports/{campaign['id']}/email-activity")
    call("GET", f"/reports/{campaign['id']}/email-activity/{md5(addresses[0])}")
    call("GET", f"/reports/{campaign['id']}/unsubscribed")
    sent_to = call("GET", f"/reports/{campaign['id']}/sent-to", params={"count": 1000}).json()
    assert sent_to["total_items"] == len(sent_to["sent_to"]) == 20
    assert {r["email_address"] for r in sent_to["sent_to"]} == set(addresses)
    call("GET", f"/reports/{campaign['id']}/sent-to", params={"count": 5, "offset": 15})
    call("GET", f"/reports/{campaign['id']}/sent-to/{md5(addresses[0])}")
    call("GET", f"/lists/{list_id}/members/{md5(addresses[0])}/activity")
    call("GET", f"/lists/{list_id}/members/{md5(addresses[0])}/activity-feed")
    operations = [
        {
            "method": "GET",
            "path": f"/lists/{list_id}",
            "operation_id": "one",
            "params": {"fields": "id"},
        }
    ]
    batch = call("POST", "/batches", json_body={"operations": operations}).json()
    deadline = time.monotonic() + 10
    while call("GET", f"/batches/{batch['id']}").json()["status"] != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    call("GET", "/batches")
    call("DELETE", f"/batches/{batch['id']}")
    call("DELETE", path)


def test_webhook_endpoints(checked: CheckedClient, mailchimp: LocalMailchimp) -> None:
    call = checked.request
    list_id = call("POST", "/lists", json_body=NEW_LIST).json()["id"]
    hook = call(
        "POST",
        f"/lists/{list_id}/webhooks",
        json_body={"url": f"{mailchimp.base_url}/_admin/faults", "events": {"campaign": False}},
    ).json()
    call("GET", f"/lists/{list_id}/webhooks/{hook['id']}")
    call("PATCH", f"/lists/{list_id}/webhooks/{hook['id']}", json_body={"sources": {"api": True}})
    call("DELETE", f"/lists/{list_id}/webhooks/{hook['id']}")


def test_error_documents(checked: CheckedClient) -> None:
    call = checked.request
    assert call("GET", "/lists/0000000000").status_code == 404
    assert call("POST", "/lists", json_body={"name": "incomplete"}, valid=False).status_code == 400
    invalid = call("POST", "/lists", content=b"{not json", valid=False)
    assert json.loads(invalid.content)["title"] == "JSON Parse Exception"
