"""Operating the server: shared fault injection and counters, restart, seeding, and the
hooks ``crmsync sim serve`` uses."""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

from crmsync_testbed.sim.serve import VENDOR_MODULES
from crmsync_testbed.sim.vendor import SeedOptions
from crmsync_testbed.sim.zoho_campaigns import VENDOR
from tests.sim.zoho_campaigns.conftest import CampaignsClient, CampaignsServer


def test_injected_429_carries_retry_after_and_admin_is_never_faulted(
    client: CampaignsClient,
) -> None:
    client.refresh()
    client.admin("PUT", "/faults", {"rate_429": 1.0, "retry_after_seconds": 3})
    response = client.raw("GET", "getmailinglists")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert client.admin("GET", "/zoho_campaigns/plan").status_code == 200
    client.admin("PUT", "/faults", {})
    assert client.raw("GET", "getmailinglists").status_code == 200


def test_injected_server_errors(client: CampaignsClient) -> None:
    client.refresh()
    client.admin("PUT", "/faults", {"rate_503": 1.0})
    assert client.raw("GET", "getmailinglists").status_code == 503
    client.admin("PUT", "/faults", {"rate_500": 0.5, "seed": 3})
    statuses = {client.raw("GET", "getmailinglists").status_code for _ in range(30)}
    assert statuses == {200, 500}


def test_counters_count_by_route_template_and_status(client: CampaignsClient) -> None:
    client.refresh()
    client.admin("POST", "/counters/reset")
    for _ in range(3):
        client.get("getlistsubscribers", listkey=client.credentials["list_key"])
    client.raw("GET", "getmailinglists", resfmt="JSON").raise_for_status()
    counters = client.admin("GET", "/counters").json()
    rows = {(r["method"], r["route"], r["status"]): r["count"] for r in counters["requests"]}
    assert rows[("GET", "/api/v1.1/getlistsubscribers", 200)] == 3
    assert rows[("GET", "/api/v1.1/getmailinglists", 200)] == 1


def test_data_and_tokens_survive_a_restart(
    server: CampaignsServer, client: CampaignsClient
) -> None:
    listkey = client.credentials["list_key"]
    client.post(
        "json/listsubscribe", listkey=listkey, contactinfo="{Contact Email:keep@example.com}"
    )
    client.post("custom/add", fieldname="Shoe Size", fieldtype="Integer")
    client.admin("PUT", "/zoho_campaigns/plan", {"contact_limit": 50})
    server.restart()
    page = client.get("getlistsubscribers", listkey=listkey)
    assert [row["contact_email"] for row in page["list_of_details"]] == ["keep@example.com"]
    labels = [f["DISPLAY_NAME"] for f in client.get("contact/allfields")["response"]["fieldname"]]
    assert "Shoe Size" in labels
    assert client.admin("GET", "/zoho_campaigns/plan").json()["contact_limit"] == 50


def test_seed_is_fast_and_idempotent_on_defaults(tmp_path: Path) -> None:
    started = time.monotonic()
    counts = VENDOR.seed(tmp_path, SeedOptions(contacts=20_000))
    assert time.monotonic() - started < 20
    assert counts["lists"] == 1 and counts["topics"] == 1 and counts["fields"] >= 16
    assert 19_000 < counts["contacts"] <= 20_000
    server = CampaignsServer(tmp_path)
    api = CampaignsClient(server)
    try:
        listkey = api.credentials["list_key"]
        active = int(
            api.get("listsubscriberscount", listkey=listkey, status="active")["no_of_contacts"]
        )
        unsub = int(
            api.get("listsubscriberscount", listkey=listkey, status="unsub")["no_of_contacts"]
        )
        assert active + unsub == counts["contacts"] and 0 < unsub < active
        page = api.get("getlistsubscribers", listkey=listkey, fromindex=10_001, range=100)
        assert len(page["list_of_details"]) == 100
        topics = api.get("topics")["topicDetails"]
        assert [t["topicId"] for t in topics] == [api.credentials["topic_id"]]
    finally:
        api.http.close()
        server.close()


def test_vendor_is_loadable_the_way_sim_serve_loads_it() -> None:
    assert "zoho_campaigns" in VENDOR_MODULES
    vendor = importlib.import_module("crmsync_testbed.sim.zoho_campaigns").VENDOR
    creds = vendor.credentials("http://127.0.0.1:1")
    assert vendor.name == "zoho_campaigns"
    assert set(creds) == {
        "accounts_url",
        "client_id",
        "client_secret",
        "refresh_token",
        "list_key",
        "topic_id",
    }
    json.dumps(creds)
