"""Every implemented endpoint, requests and responses checked against the OpenAPI document."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
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


# --- issue 13.5: answers as the real service gives them -----------------------------------


def _shifted(timestamp: str, hours: int, seconds: int = 0) -> str:
    """The same instant (plus ``seconds``) written with a ``+hours:00`` offset."""
    instant = datetime.fromisoformat(timestamp) + timedelta(seconds=seconds)
    return instant.astimezone(timezone(timedelta(hours=hours))).isoformat()


def _ids(response_items: list[dict[str, Any]]) -> set[str]:
    return {str(item["id"]) for item in response_items}


def _send(call: Any, list_id: str) -> dict[str, Any]:
    settings = {"subject_line": "Hi", "from_name": "Acme", "reply_to": "news@acme.example.com"}
    campaign: dict[str, Any] = call(
        "POST",
        "/campaigns",
        json_body={"type": "regular", "recipients": {"list_id": list_id}, "settings": settings},
    ).json()
    assert call("POST", f"/campaigns/{campaign['id']}/actions/send").status_code == 204
    return dict(call("GET", f"/campaigns/{campaign['id']}").json())


def test_count_above_1000_is_capped(checked: CheckedClient, mailchimp: LocalMailchimp) -> None:
    response = checked.request("GET", "/lists", params={"count": 5000})
    assert response.status_code == 200
    members = checked.request(
        "GET",
        f"/lists/{mailchimp.list_id}/members",
        params={"count": 1001, "fields": "total_items"},
    )
    assert members.status_code == 200


def test_list_time_filters_compare_instants(checked: CheckedClient) -> None:
    call = checked.request
    created = call("POST", "/lists", json_body=NEW_LIST).json()
    stamp = created["date_created"]
    for hours in (0, 5, -7):
        found = call("GET", "/lists", params={"since_date_created": _shifted(stamp, hours)})
        assert created["id"] in _ids(found.json()["lists"])
        later = call("GET", "/lists", params={"since_date_created": _shifted(stamp, hours, 1)})
        assert created["id"] not in _ids(later.json()["lists"])
        earlier = call("GET", "/lists", params={"before_date_created": _shifted(stamp, hours, -1)})
        assert created["id"] not in _ids(earlier.json()["lists"])
    unsent = call("GET", "/lists", params={"since_campaign_last_sent": _shifted(stamp, 2, -60)})
    assert created["id"] not in _ids(unsent.json()["lists"])
    sent = _send(call, created["id"])
    since = {"since_campaign_last_sent": _shifted(sent["send_time"], 3)}
    assert created["id"] in _ids(call("GET", "/lists", params=since).json()["lists"])
    before = {"before_campaign_last_sent": _shifted(sent["send_time"], 3, -1)}
    assert created["id"] not in _ids(call("GET", "/lists", params=before).json()["lists"])


def test_campaign_and_report_time_filters(checked: CheckedClient) -> None:
    call = checked.request
    list_id = call("POST", "/lists", json_body=NEW_LIST).json()["id"]
    sent = _send(call, list_id)
    created, send_time = sent["create_time"], sent["send_time"]
    for hours in (2, -3):
        same = call("GET", "/campaigns", params={"since_create_time": _shifted(created, hours)})
        assert sent["id"] in _ids(same.json()["campaigns"])
        later = {"since_create_time": _shifted(created, hours, 1)}
        assert sent["id"] not in _ids(call("GET", "/campaigns", params=later).json()["campaigns"])
        reports = call("GET", "/reports", params={"since_send_time": _shifted(send_time, hours)})
        assert sent["id"] in _ids(reports.json()["reports"])
        after = {"since_send_time": _shifted(send_time, hours, 1), "type": "regular"}
        assert sent["id"] not in _ids(call("GET", "/reports", params=after).json()["reports"])
        before = {"before_send_time": _shifted(send_time, hours, -1)}
        assert sent["id"] not in _ids(call("GET", "/reports", params=before).json()["reports"])


def test_segment_time_filters(checked: CheckedClient) -> None:
    call = checked.request
    list_id = call("POST", "/lists", json_body=NEW_LIST).json()["id"]
    segment = call(
        "POST", f"/lists/{list_id}/segments", json_body={"name": "vip", "static_segment": []}
    ).json()
    path = f"/lists/{list_id}/segments"
    for name, key in (("created_at", "created_at"), ("updated_at", "updated_at")):
        stamp = segment[key]
        found = call("GET", path, params={f"since_{name}": _shifted(stamp, 4)}).json()
        assert _ids(found["segments"]) == {str(segment["id"])}
        later = call("GET", path, params={f"since_{name}": _shifted(stamp, 4, 1)}).json()
        assert later["segments"] == [] and later["total_items"] == 0
        earlier = call("GET", path, params={f"before_{name}": _shifted(stamp, -4, -1)}).json()
        assert earlier["segments"] == []


def test_segment_members_include_flags(checked: CheckedClient, mailchimp: LocalMailchimp) -> None:
    call = checked.request
    list_id = call("POST", "/lists", json_body=NEW_LIST).json()["id"]
    people = {status: email(status) for status in ("subscribed", "unsubscribed", "cleaned")}
    for address in people.values():
        call(
            "PUT",
            f"/lists/{list_id}/members/{md5(address)}",
            json_body={"email_address": address, "status_if_new": "subscribed"},
        )
    call(
        "PATCH",
        f"/lists/{list_id}/members/{md5(people['unsubscribed'])}",
        json_body={"status": "unsubscribed"},
    )
    mailchimp.admin(
        "POST",
        f"/_admin/mailchimp/lists/{list_id}/events",
        json={"type": "cleaned", "email": people["cleaned"], "source": "admin"},
    ).raise_for_status()
    segment = call(
        "POST",
        f"/lists/{list_id}/segments",
        json_body={"name": "all", "static_segment": list(people.values())},
    ).json()
    path = f"/lists/{list_id}/segments/{segment['id']}/members"

    def listed(**flags: str) -> set[str]:
        body = call("GET", path, params=flags).json()
        assert body["total_items"] == len(body["members"])
        return {m["email_address"] for m in body["members"]}

    assert listed() == {people["subscribed"]}
    assert listed(include_unsubscribed="true") == {people["subscribed"], people["unsubscribed"]}
    assert listed(include_cleaned="true") == {people["subscribed"], people["cleaned"]}
    assert listed(include_unsubscribed="true", include_cleaned="true") == set(people.values())


def test_report_of_unsent_campaign(checked: CheckedClient) -> None:
    call = checked.request
    list_id = call("POST", "/lists", json_body=NEW_LIST).json()["id"]
    campaign = call(
        "POST", "/campaigns", json_body={"type": "regular", "recipients": {"list_id": list_id}}
    ).json()
    report = call("GET", f"/reports/{campaign['id']}")
    assert report.status_code == 200
    body = report.json()
    assert (body["id"], body["emails_sent"], body["send_time"]) == (campaign["id"], 0, "")
    assert body["opens"]["opens_total"] == body["clicks"]["clicks_total"] == 0
    for sub in ("email-activity", "sent-to", "unsubscribed"):
        listed = call("GET", f"/reports/{campaign['id']}/{sub}")
        assert listed.status_code == 200 and listed.json()["total_items"] == 0
    assert campaign["id"] not in _ids(call("GET", "/reports").json()["reports"])
    missing = call("GET", "/reports/0000000000")
    assert missing.status_code == 404


def test_automations_list(checked: CheckedClient) -> None:
    response = checked.request("GET", "/automations", params={"status": "sending", "count": 5})
    assert response.status_code == 200
    assert response.json()["automations"] == [] and response.json()["total_items"] == 0
    wrong = checked.request("GET", "/automations", params={"status": "sent"}, valid=False)
    assert wrong.status_code == 400


def test_oauth_metadata(mailchimp: LocalMailchimp) -> None:
    token = mailchimp.credentials["access_token"]
    url = f"{mailchimp.base_url}/oauth2/metadata"
    answer = httpx.get(url, headers={"Authorization": f"OAuth {token}"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["dc"] == "us1" and body["api_endpoint"] == mailchimp.base_url
    assert {"role", "accountname", "user_id", "login", "login_url"} <= set(body)
    with httpx.Client(
        base_url=f"{body['api_endpoint']}/3.0", headers={"Authorization": f"OAuth {token}"}
    ) as client:
        assert client.get("/ping").status_code == 200
    assert httpx.get(url, headers={"Authorization": "OAuth wrong"}).status_code == 401
    assert httpx.get(url).status_code == 401
