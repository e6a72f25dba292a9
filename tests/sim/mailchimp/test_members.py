"""Member behaviour that syncs depend on: identity, status rules, refusals, partial batches."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from tests.sim.mailchimp.conftest import email, member_body
from tests.sim.mailchimp.localserver import LocalMailchimp


def md5(address: str) -> str:
    return hashlib.md5(address.strip().lower().encode()).hexdigest()


def test_subscriber_hash_is_md5_of_lowercased_address(api: httpx.Client, list_id: str) -> None:
    address = email("Zoe.Lukasiewicz").replace("zoe", "Zoe")
    created = api.put(f"/lists/{list_id}/members/{md5(address)}", json=member_body(address)).json()
    assert created["id"] == md5(address)
    assert created["email_address"] == address
    by_address = api.get(f"/lists/{list_id}/members/{address.upper()}")
    assert by_address.status_code == 200
    assert by_address.json()["id"] == md5(address)


def test_put_without_status_never_resubscribes(api: httpx.Client, list_id: str) -> None:
    address = email()
    path = f"/lists/{list_id}/members/{md5(address)}"
    assert api.put(path, json=member_body(address)).json()["status"] == "subscribed"
    assert api.patch(path, json={"status": "unsubscribed"}).json()["status"] == "unsubscribed"
    again = api.put(path, json=member_body(address, merge_fields={"FNAME": "Ana"})).json()
    assert again["status"] == "unsubscribed"
    assert again["merge_fields"]["FNAME"] == "Ana"
    explicit = api.put(path, json={"email_address": address, "status": "subscribed"})
    assert explicit.json()["status"] == "subscribed"  # admin unsubscribe: the API may undo it


def test_status_if_new_only_applies_to_new_members(api: httpx.Client, list_id: str) -> None:
    address = email()
    path = f"/lists/{list_id}/members/{md5(address)}"
    assert (
        api.put(path, json={"email_address": address, "status_if_new": "pending"}).json()["status"]
        == "pending"
    )
    kept = api.put(path, json={"email_address": address, "status_if_new": "subscribed"})
    assert kept.json()["status"] == "pending"


def test_person_who_unsubscribed_cannot_be_resubscribed(
    mailchimp: LocalMailchimp, api: httpx.Client, list_id: str
) -> None:
    address = email()
    api.put(
        f"/lists/{list_id}/members/{md5(address)}", json=member_body(address)
    ).raise_for_status()
    hook = mailchimp.admin(
        "POST",
        f"/_admin/mailchimp/lists/{list_id}/events",
        json={"type": "unsubscribe", "email": address, "source": "user"},
    )
    assert hook.json()["status"] == "unsubscribed"
    refused = api.patch(f"/lists/{list_id}/members/{md5(address)}", json={"status": "subscribed"})
    assert refused.status_code == 400
    assert refused.json()["title"] == "Member In Compliance State"
    pending = api.patch(f"/lists/{list_id}/members/{md5(address)}", json={"status": "pending"})
    assert pending.json()["status"] == "pending"


def test_post_refuses_existing_member(api: httpx.Client, list_id: str) -> None:
    address = email()
    first = api.post(
        f"/lists/{list_id}/members", json={"email_address": address, "status": "subscribed"}
    )
    assert first.status_code == 200
    second = api.post(
        f"/lists/{list_id}/members", json={"email_address": address, "status": "subscribed"}
    )
    assert second.status_code == 400
    assert second.headers["Content-Type"].startswith("application/problem+json")
    problem = second.json()
    assert problem["title"] == "Member Exists"
    assert set(problem) >= {"type", "title", "status", "detail", "instance"}


def test_archive_then_readd_and_permanent_delete_is_final(api: httpx.Client, list_id: str) -> None:
    address = email()
    path = f"/lists/{list_id}/members/{md5(address)}"
    api.put(path, json=member_body(address)).raise_for_status()
    assert api.delete(path).status_code == 204
    assert api.get(path).json()["status"] == "archived"
    listed = api.get(f"/lists/{list_id}/members").json()
    assert address not in [m["email_address"] for m in listed["members"]]
    assert api.put(path, json=member_body(address)).json()["status"] == "subscribed"
    assert api.post(f"{path}/actions/delete-permanent").status_code == 204
    assert api.get(path).status_code == 404
    refused = api.put(path, json=member_body(address))
    assert refused.status_code == 400
    assert refused.json()["title"] == "Forgotten Email Not Subscribed"


def test_invalid_and_fake_addresses(api: httpx.Client, list_id: str) -> None:
    bad = api.post(
        f"/lists/{list_id}/members",
        json={"email_address": "anna.example.com", "status": "subscribed"},
    )
    assert bad.status_code == 400
    assert bad.json()["title"] == "Invalid Resource"
    fake = api.post(
        f"/lists/{list_id}/members",
        json={"email_address": "x@mailinator.com", "status": "subscribed"},
    )
    assert "looks fake or invalid" in fake.json()["detail"]


def test_merge_fields_are_validated_by_type(api: httpx.Client, list_id: str) -> None:
    fields = f"/lists/{list_id}/merge-fields"
    api.post(fields, json={"name": "Score", "type": "number", "tag": "SCORE"}).raise_for_status()
    api.post(
        fields,
        json={
            "name": "Plan",
            "type": "dropdown",
            "tag": "PLAN",
            "options": {"choices": ["Free", "Pro"]},
        },
    ).raise_for_status()
    api.post(fields, json={"name": "Joined", "type": "date", "tag": "JOINED"}).raise_for_status()
    api.post(fields, json={"name": "Site", "type": "url", "tag": "SITE"}).raise_for_status()
    api.post(
        fields, json={"name": "Address", "type": "address", "tag": "ADDRESS"}
    ).raise_for_status()
    tags = [f["tag"] for f in api.get(fields, params={"count": 100}).json()["merge_fields"]]
    assert tags[:2] == ["FNAME", "LNAME"]
    address = email()
    good = api.put(
        f"/lists/{list_id}/members/{md5(address)}",
        json=member_body(
            address,
            merge_fields={
                "SCORE": "42",
                "PLAN": "Pro",
                "JOINED": "12/31/2023",
                "SITE": "https://acme.example.com",
                "ADDRESS": {"addr1": "1 Main St", "city": "Austin", "state": "TX", "zip": "73301"},
            },
        ),
    ).json()["merge_fields"]
    assert good["SCORE"] == 42
    assert good["JOINED"] == "2023-12-31"
    assert good["ADDRESS"]["country"] == "US"
    bad = api.put(
        f"/lists/{list_id}/members/{md5(address)}",
        json=member_body(address, merge_fields={"SCORE": "lots", "PLAN": "Gold", "SITE": "acme"}),
    )
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"SCORE", "PLAN", "SITE"}


def test_batch_subscribe_reports_partial_failures_in_200(api: httpx.Client, list_id: str) -> None:
    existing = email()
    api.put(
        f"/lists/{list_id}/members/{md5(existing)}", json=member_body(existing)
    ).raise_for_status()
    fresh = [email() for _ in range(3)]
    members: list[dict[str, Any]] = [{"email_address": a, "status": "subscribed"} for a in fresh]
    members += [
        {"email_address": "not-an-email", "status": "subscribed"},
        {"email_address": "y@yopmail.com", "status": "subscribed"},
        {"email_address": existing, "status": "subscribed", "merge_fields": {"FNAME": "New"}},
    ]
    result = api.post(f"/lists/{list_id}", json={"members": members})
    assert result.status_code == 200
    body = result.json()
    assert body["total_created"] == 3
    assert body["error_count"] == 3
    codes = {e["email_address"]: e["error_code"] for e in body["errors"]}
    assert codes[existing] == "ERROR_CONTACT_EXISTS"
    assert codes["not-an-email"] == "ERROR_GENERIC"
    updated = api.post(
        f"/lists/{list_id}", json={"members": members[-1:], "update_existing": True}
    ).json()
    assert updated["total_updated"] == 1
    assert updated["updated_members"][0]["merge_fields"]["FNAME"] == "New"
    too_many = api.post(f"/lists/{list_id}", json={"members": [{"email_address": email()}] * 501})
    assert too_many.status_code == 400


def test_listing_paging_filters_and_field_selection(api: httpx.Client, list_id: str) -> None:
    addresses = [email() for _ in range(5)]
    api.post(
        f"/lists/{list_id}",
        json={"members": [{"email_address": a, "status": "subscribed"} for a in addresses]},
    )
    api.patch(f"/lists/{list_id}/members/{md5(addresses[0])}", json={"status": "unsubscribed"})
    page = api.get(f"/lists/{list_id}/members", params={"count": 2, "offset": 1}).json()
    assert page["total_items"] == 5
    assert [m["email_address"] for m in page["members"]] == addresses[1:3]
    unsubscribed = api.get(f"/lists/{list_id}/members", params={"status": "unsubscribed"}).json()
    assert [m["email_address"] for m in unsubscribed["members"]] == [addresses[0]]
    since = unsubscribed["members"][0]["last_changed"]
    changed = api.get(f"/lists/{list_id}/members", params={"since_last_changed": since}).json()
    assert addresses[0] in [m["email_address"] for m in changed["members"]]
    slim = api.get(f"/lists/{list_id}/members", params={"fields": "members.id,total_items"}).json()
    assert set(slim) == {"members", "total_items"}
    assert set(slim["members"][0]) == {"id"}
    capped = api.get(f"/lists/{list_id}/members", params={"count": 1001})
    assert capped.status_code == 200
    assert len(capped.json()["members"]) == 5
    stats = api.get(f"/lists/{list_id}").json()["stats"]
    assert (stats["member_count"], stats["unsubscribe_count"]) == (4, 1)


def test_tags_and_segments(api: httpx.Client, list_id: str) -> None:
    address = email()
    hash_ = md5(address)
    api.put(f"/lists/{list_id}/members/{hash_}", json=member_body(address)).raise_for_status()
    tags = {
        "tags": [{"name": "crm-contact", "status": "active"}, {"name": "vip", "status": "active"}]
    }
    assert api.post(f"/lists/{list_id}/members/{hash_}/tags", json=tags).status_code == 204
    names = [t["name"] for t in api.get(f"/lists/{list_id}/members/{hash_}/tags").json()["tags"]]
    assert names == ["crm-contact", "vip"]
    api.post(
        f"/lists/{list_id}/members/{hash_}/tags",
        json={"tags": [{"name": "vip", "status": "inactive"}]},
    )
    assert api.get(f"/lists/{list_id}/members/{hash_}").json()["tags_count"] == 1
    found = api.get(f"/lists/{list_id}/tag-search", params={"name": "crm"}).json()
    assert [t["name"] for t in found["tags"]] == ["crm-contact"]
    segment_id = found["tags"][0]["id"]
    other = email()
    api.put(f"/lists/{list_id}/members/{md5(other)}", json=member_body(other)).raise_for_status()
    batch = api.post(
        f"/lists/{list_id}/segments/{segment_id}",
        json={"members_to_add": [other, "stranger@example.com"], "members_to_remove": [address]},
    ).json()
    assert (batch["total_added"], batch["total_removed"], batch["error_count"]) == (1, 1, 1)
    members = api.get(f"/lists/{list_id}/segments/{segment_id}/members").json()["members"]
    assert [m["email_address"] for m in members] == [other]
