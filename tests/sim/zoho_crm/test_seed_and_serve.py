"""The seed (data shape, messiness, speed), fakedata, and the server under ``crmsync sim serve``."""

from __future__ import annotations

import importlib.util
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from crmsync_testbed.sim.fakedata import FakeData, Messiness, ascii_slug, normalise_email
from crmsync_testbed.sim.serve import VENDOR_MODULES
from crmsync_testbed.sim.vendor import SeedOptions
from crmsync_testbed.sim.zoho_crm import VENDOR
from tests.simfixture import run_sim


def test_fakedata_is_deterministic_and_messy() -> None:
    mess = Messiness(
        invalid_email_rate=0.1,
        duplicate_email_rate=0.1,
        opted_out_rate=0.2,
        converted_lead_rate=0.1,
    )
    first = FakeData(3).people(500, mess)
    assert first == FakeData(3).people(500, mess)
    assert any(not p.email_valid for p in first)
    duplicates = [p for p in first if p.duplicate_of is not None]
    assert duplicates
    for person in duplicates:
        original = first[person.duplicate_of or 0]
        assert person.email != original.email
        assert normalise_email(person.email) == normalise_email(original.email)
    assert 0.1 < sum(p.opted_out for p in first) / 500 < 0.3
    assert ascii_slug("Zoë Łukasiewicz") == "zoe.lukasiewicz"
    assert any(not p.full_name.isascii() for p in first)


def test_seed_100k_contacts_quickly(tmp_path: Path) -> None:
    started = time.monotonic()
    counts = VENDOR.seed(tmp_path, SeedOptions(contacts=100_000, leads=5_000))
    elapsed = time.monotonic() - started
    assert counts["contacts"] == 100_000 and counts["leads"] == 5_000
    assert counts["accounts"] == 10_000 and counts["deals"] == 5_000
    assert elapsed < 60, elapsed
    db = sqlite3.connect(tmp_path / "crm.sqlite3")
    opted_out = db.execute(
        "SELECT count(*) FROM records WHERE module = 'Contacts' AND "
        "json_extract(doc, '$.Email_Opt_Out') = 1"
    ).fetchone()[0]
    assert 2_000 < opted_out < 4_500
    converted = db.execute(
        "SELECT count(*) FROM records WHERE module = 'Leads' AND converted = 1"
    ).fetchone()[0]
    assert converted == counts["converted_leads"] > 0


@pytest.mark.skipif(
    any(importlib.util.find_spec(f"crmsync_testbed.sim.{m}") is None for m in VENDOR_MODULES),
    reason="crmsync sim serve needs every vendor module",
)
def test_under_crmsync_sim_serve(tmp_path: Path) -> None:
    with run_sim(tmp_path) as servers:
        servers.seed(contacts=50, leads=10, only=["zoho_crm"])
        info = servers.info["zoho_crm"]
        token = httpx.post(
            f"{info['accounts_url']}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": info["client_id"],
                "client_secret": info["client_secret"],
                "refresh_token": info["refresh_token"],
            },
        ).json()["access_token"]
        response = httpx.get(
            f"{info['api_domain']}/crm/v8/Contacts",
            params={"fields": "Email", "per_page": 200},
            headers={"Authorization": f"Zoho-oauthtoken {token}"},
        )
        assert response.status_code == 200
        assert response.json()["info"]["count"] == 50
        assert servers.counters("zoho_crm")["total"] >= 1
