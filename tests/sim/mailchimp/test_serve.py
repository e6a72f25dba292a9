"""The Mailchimp server as ``crmsync sim serve`` runs it (subprocess, all vendors), and seeding."""

from __future__ import annotations

import importlib

import httpx
import pytest

from tests.simfixture import SimServers


def _all_vendors_present() -> bool:
    try:
        for name in ("zoho_crm", "zoho_campaigns", "mailchimp"):
            importlib.import_module(f"crmsync_testbed.sim.{name}")
    except ImportError:
        return False
    return True


pytestmark = [
    pytest.mark.sim,
    pytest.mark.skipif(
        not _all_vendors_present(), reason="crmsync sim serve needs every vendor module"
    ),
]


def test_serve_describes_mailchimp_and_seed_fills_the_default_audience(sim: SimServers) -> None:
    info = sim.info["mailchimp"]
    assert info["server"] == "us1"
    assert info["api_key"].endswith("-us1")
    auth = ("anystring", info["api_key"])
    base = f"{info['base_url']}/3.0"
    assert httpx.get(f"{base}/ping", auth=auth).json()["health_status"] == "Everything's Chimpy!"
    counts = sim.seed(only=["mailchimp"], contacts=2000)["mailchimp"]
    assert counts["members"] > 0
    audience = httpx.get(f"{base}/lists/{info['list_id']}", auth=auth).json()
    assert audience["name"] == "crmsync demo"
    assert audience["stats"]["unsubscribe_count"] > 0
    assert audience["stats"]["cleaned_count"] > 0
    tags = [
        f["tag"]
        for f in httpx.get(f"{base}/lists/{info['list_id']}/merge-fields", auth=auth).json()[
            "merge_fields"
        ]
    ]
    assert tags == ["FNAME", "LNAME", "PHONE", "COMPANY"]
    again = sim.seed(only=["mailchimp"], contacts=2000)["mailchimp"]
    assert again["members"] == 0  # seeding twice adds nobody twice
    sim.reset_counters("mailchimp")
    httpx.get(f"{base}/lists/{info['list_id']}/members", auth=auth)
    rows = sim.counters("mailchimp")["requests"]
    assert {
        "method": "GET",
        "route": "/3.0/lists/{list_id}/members",
        "status": 200,
        "count": 1,
    } in rows
