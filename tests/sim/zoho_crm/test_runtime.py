"""Notifications, limits, faults, counters, OAuth refresh and persistence across restarts."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.sim.zoho_crm.server import CrmServer, run_crm


class Receiver:
    """A local aiohttp endpoint that records what Zoho posts to a notify_url."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/zoho/callback"
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._start(sock), self.loop).result(10)

    async def _start(self, sock: socket.socket) -> None:
        app = web.Application()
        app.router.add_post("/zoho/callback", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.SockSite(self.runner, sock).start()

    async def _handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.Response(status=200)

    def wait_for(self, count: int, timeout: float = 5) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.bodies)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _watch(
    api: httpx.Client, receiver: Receiver, channel_id: str, events: list[str], **extra: Any
) -> None:
    body = {
        "watch": [
            {
                "channel_id": channel_id,
                "events": events,
                "notify_url": receiver.url,
                "token": f"tok-{channel_id}",
                **extra,
            }
        ]
    }
    assert api.post("/actions/watch", json=body).status_code == 201


def test_notifications_for_create_edit_delete(api: httpx.Client, receiver: Receiver) -> None:
    _watch(api, receiver, "7001", ["Contacts.all"], return_affected_field_values=True)
    try:
        created = api.post("/Contacts", json={"data": [{"Last_Name": "Notify"}]}).json()
        record_id = created["data"][0]["details"]["id"]
        api.put(f"/Contacts/{record_id}", json={"data": [{"Email": "notify@example.com"}]})
        api.delete("/Contacts", params={"ids": record_id})
        bodies = receiver.wait_for(3)
    finally:
        api.delete("/actions/watch", params={"channel_ids": "7001"})
    assert [b["operation"] for b in bodies] == ["insert", "update", "delete"]
    first = bodies[0]
    assert set(first) >= {
        "server_time",
        "module",
        "resource_uri",
        "ids",
        "affected_fields",
        "query_params",
        "channel_id",
        "token",
        "operation",
    }
    assert first["module"] == "Contacts" and first["ids"] == [record_id]
    assert first["channel_id"] == "7001" and first["token"] == "tok-7001"
    update = bodies[1]
    assert update["affected_fields"] == [{record_id: ["Email"]}]
    assert update["affected_values"] == [
        {"record_id": record_id, "values": {"Email": "notify@example.com"}}
    ]


def test_notifications_filter_events_and_expire(api: httpx.Client, receiver: Receiver) -> None:
    soon = (datetime.now(tz=UTC) + timedelta(seconds=2)).isoformat(timespec="seconds")
    _watch(api, receiver, "7002", ["Leads.create"], channel_expiry=soon)
    try:
        api.post("/Contacts", json={"data": [{"Last_Name": "NotALead"}]})
        lead = api.post("/Leads", json={"data": [{"Last_Name": "Lead"}]}).json()
        lead_id = lead["data"][0]["details"]["id"]
        api.put(f"/Leads/{lead_id}", json={"data": [{"Title": "x"}]})
        bodies = receiver.wait_for(1)
        assert [(b["module"], b["operation"]) for b in bodies] == [("Leads", "insert")]
        time.sleep(2.5)
        api.post("/Leads", json={"data": [{"Last_Name": "After expiry"}]})
        time.sleep(0.3)
        assert len(receiver.bodies) == 1
    finally:
        api.delete("/actions/watch", params={"channel_ids": "7002"})


def test_channel_expiry_limit(api: httpx.Client, crm: CrmServer) -> None:
    far = (datetime.now(tz=UTC) + timedelta(days=3)).isoformat(timespec="seconds")
    body = {
        "watch": [
            {
                "channel_id": "7003",
                "events": ["Leads.all"],
                "notify_url": "http://127.0.0.1:9/x",
                "channel_expiry": far,
            }
        ]
    }
    assert api.post("/actions/watch", json=body).status_code == 201  # v8: up to a week
    with crm.client("v2") as v2:
        refused = v2.post("/actions/watch", json=body)  # v2: one day
    assert refused.status_code == 202
    assert refused.json()["watch"][0]["code"] == "INVALID_DATA"
    api.delete("/actions/watch", params={"channel_ids": "7003"})


def test_injected_429_with_retry_after_and_counters(api: httpx.Client, crm: CrmServer) -> None:
    crm.admin("POST", "/_admin/counters/reset")
    crm.admin("PUT", "/_admin/faults", json={"rate_429": 1.0, "retry_after_seconds": 7})
    try:
        response = api.get("/Leads", params={"fields": "Email"})
    finally:
        crm.admin("PUT", "/_admin/faults", json={})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert api.get("/Leads", params={"fields": "Email"}).status_code == 200
    rows = crm.admin("GET", "/_admin/counters")["requests"]
    statuses = {(r["route"], r["status"]) for r in rows}
    assert ("/crm/v8/{module}", 429) in statuses and ("/crm/v8/{module}", 200) in statuses


def test_concurrency_limit(api: httpx.Client, crm: CrmServer) -> None:
    crm.admin("PUT", "/_admin/zoho_crm/limits", json={"concurrency": 3, "hold_ms": 300})
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(
                pool.map(
                    lambda _: api.get("/Leads", params={"fields": "Email"}).status_code, range(6)
                )
            )
        refused = [s for s in statuses if s == 429]
        assert statuses.count(200) == 3 and len(refused) == 3
    finally:
        crm.admin("PUT", "/_admin/zoho_crm/limits", json={"concurrency": None, "hold_ms": 0})
    answer = api.get("/Leads", params={"fields": "Email"})
    assert answer.status_code == 200


def test_daily_credits(api: httpx.Client, crm: CrmServer) -> None:
    before = crm.admin("POST", "/_admin/zoho_crm/credits/reset")
    assert before["used"] == 0
    api.post("/Contacts", json={"data": [{"Last_Name": f"c{i}"} for i in range(25)]})
    api.get("/Contacts/deleted")
    used = crm.admin("GET", "/_admin/zoho_crm/credits")["used"]
    assert used == 3 + 2  # 25 records = 3 credits; deleted records = 2
    crm.admin("PUT", "/_admin/zoho_crm/limits", json={"daily_credits": used + 1})
    try:
        assert api.get("/Leads", params={"fields": "Email"}).status_code == 200
        refused = api.get("/Leads", params={"fields": "Email"})
        assert refused.status_code == 429
        assert refused.json()["code"] == "LIMIT_REACHED"
    finally:
        crm.admin("PUT", "/_admin/zoho_crm/limits", json={"daily_credits": None})


def test_token_refresh_after_expiry(crm: CrmServer) -> None:
    crm.admin("POST", "/_admin/zoho_crm/tokens/expire")
    with crm.client() as stale:
        response = stale.get("/Leads", params={"fields": "Email"})
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"
    crm.token(fresh=True)
    with crm.client() as fresh:
        assert fresh.get("/Leads", params={"fields": "Email"}).status_code == 200


def test_authorization_code_grant(crm: CrmServer) -> None:
    code = crm.admin("POST", "/_admin/zoho_crm/grant_code")["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": crm.credentials["client_id"],
        "client_secret": crm.credentials["client_secret"],
        "redirect_uri": "http://localhost/cb",
    }
    first = httpx.post(f"{crm.base_url}/oauth/v2/token", data=form).json()
    assert first["refresh_token"] == crm.credentials["refresh_token"]
    second = httpx.post(f"{crm.base_url}/oauth/v2/token", data=form).json()
    assert second == {"error": "invalid_code"}
    wrong = httpx.post(
        f"{crm.base_url}/oauth/v2/token", data={**form, "client_secret": "nope"}
    ).json()
    assert wrong == {"error": "invalid_client"}


def test_data_and_tokens_survive_restart(tmp_path: Path) -> None:
    with run_crm(tmp_path) as first:
        token = first.token()
        with first.client() as api:
            created = api.post("/Contacts", json={"data": [{"Last_Name": "Durable"}]}).json()
        record_id = created["data"][0]["details"]["id"]
    with run_crm(tmp_path) as second:
        second._token = token
        with second.client() as api:
            body = api.get(f"/Contacts/{record_id}").json()
    assert body["data"][0]["Last_Name"] == "Durable"
