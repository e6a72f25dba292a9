"""Fault injection, request counters, persistence across restarts, the 10-connection limit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.sim.mailchimp.conftest import email, member_body
from tests.sim.mailchimp.localserver import LocalMailchimp
from tests.sim.mailchimp.test_members import md5


def test_injected_429_carries_retry_after(mailchimp: LocalMailchimp, api: httpx.Client) -> None:
    mailchimp.admin(
        "PUT", "/_admin/faults", json={"rate_429": 1, "retry_after_seconds": 3}
    ).raise_for_status()
    try:
        response = api.get("/ping")
    finally:
        mailchimp.admin("PUT", "/_admin/faults", json={}).raise_for_status()
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert api.get("/ping").status_code == 200
    assert mailchimp.admin("GET", "/_admin/faults").json()["rate_429"] == 0


def test_first_429_refuses_exactly_that_many_requests(
    mailchimp: LocalMailchimp, api: httpx.Client
) -> None:
    mailchimp.admin(
        "PUT", "/_admin/faults", json={"first_429": 2, "retry_after_seconds": 0.5}
    ).raise_for_status()
    try:
        statuses = [api.get("/ping").status_code for _ in range(4)]
    finally:
        mailchimp.admin("PUT", "/_admin/faults", json={}).raise_for_status()
    assert statuses == [429, 429, 200, 200]


def test_counters_count_by_route_template_and_status(
    mailchimp: LocalMailchimp, api: httpx.Client, list_id: str
) -> None:
    mailchimp.admin("POST", "/_admin/counters/reset").raise_for_status()
    for _ in range(3):
        address = email()
        api.put(
            f"/lists/{list_id}/members/{md5(address)}", json=member_body(address)
        ).raise_for_status()
    api.get(f"/lists/{list_id}/members/{md5('nobody@example.com')}")
    httpx.get(f"{mailchimp.api_url}/ping")  # no credentials
    rows = mailchimp.admin("GET", "/_admin/counters").json()["requests"]
    counts = {(r["method"], r["route"], r["status"]): r["count"] for r in rows}
    member_route = "/3.0/lists/{list_id}/members/{subscriber_hash}"
    assert counts[("PUT", member_route, 200)] == 3
    assert counts[("GET", member_route, 404)] == 1
    assert counts[("GET", "/3.0/ping", 401)] == 1


def test_data_survives_a_restart(tmp_path: Path) -> None:
    address = email("durable")
    first = LocalMailchimp(tmp_path).start()
    try:
        with first.client() as api:
            api.put(
                f"/lists/{first.list_id}/members/{md5(address)}",
                json=member_body(address, merge_fields={"FNAME": "Renée"}),
            ).raise_for_status()
            api.patch(
                f"/lists/{first.list_id}/members/{md5(address)}", json={"status": "unsubscribed"}
            )
    finally:
        first.stop()
    second = LocalMailchimp(tmp_path).start()
    try:
        with second.client() as api:
            member = api.get(f"/lists/{second.list_id}/members/{md5(address)}").json()
    finally:
        second.stop()
    assert (member["status"], member["merge_fields"]["FNAME"]) == ("unsubscribed", "Renée")


def test_more_than_ten_simultaneous_requests_get_429(
    mailchimp: LocalMailchimp, list_id: str
) -> None:
    def subscribe_500(batch: int) -> httpx.Response:
        members = [
            {
                "email_address": f"c{batch}.{i}.{md5(list_id)[:6]}@example.com",
                "status": "subscribed",
            }
            for i in range(500)
        ]
        with mailchimp.client() as client:
            return client.post(f"/lists/{list_id}", json={"members": members})

    with ThreadPoolExecutor(max_workers=10) as pool:
        within_limit = list(pool.map(subscribe_500, range(10)))
    assert {r.status_code for r in within_limit} == {200}
    with ThreadPoolExecutor(max_workers=30) as pool:
        over_limit = list(pool.map(subscribe_500, range(10, 40)))
    statuses = [r.status_code for r in over_limit]
    assert set(statuses) == {200, 429}
    refused = next(r for r in over_limit if r.status_code == 429)
    assert refused.json()["title"] == "Too Many Requests"
    assert refused.headers["Content-Type"].startswith("application/problem+json")


def test_wrong_or_missing_key_is_401(mailchimp: LocalMailchimp) -> None:
    wrong_dc = mailchimp.api_key.replace("-us1", "-us7")
    for auth in (("any", wrong_dc), ("any", "0" * 32 + "-us1")):
        response = httpx.get(f"{mailchimp.api_url}/ping", auth=auth)
        assert response.status_code == 401
        assert response.json()["title"] == "API Key Invalid"
    assert httpx.get(f"{mailchimp.api_url}/ping").json()["title"] == "API Key Missing"
    token = mailchimp.credentials["access_token"]
    bearer = httpx.get(f"{mailchimp.api_url}/ping", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
