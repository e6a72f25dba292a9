"""Incremental runs (polls, notifications) against a large audience: vendor calls and time.

Starts the local vendor servers, seeds N Zoho CRM contacts, loads them into a Mailchimp
audience with the sync engine, then measures in the same run, side by side:

- **listing** (the behaviour before small runs): every incremental run lists the whole
  audience and reads the field metadata again;
- **small** (now): the CRM is read first; a quiet run reads no member, a run with a few
  changed records reads just their members; field metadata is read once per spec (the
  reconciler keeps the check for 10 minutes).

For each: a quiet run (nothing changed) and a run after one CRM edit, with the calls the
servers counted (``/_admin/counters``, token calls left out) and the wall time.

    .venv/bin/python bench/incremental_runs.py [--contacts 19000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))
from initial_load import (
    _counters,
    _new_audience,
    _reset,
    _total,
    contacts_settings,
    endpoints,
    local_vendors,
)


def _edit_one_contact(info: dict[str, Any], name: str) -> None:
    from tests.simfixture import ZohoSimAuth  # the tests' OAuth helper for the local CRM

    crm = info["zoho_crm"]
    http = httpx.Client(base_url=f"{crm['base_url']}/crm/v8", auth=ZohoSimAuth(crm), timeout=30)
    first = http.get("/Contacts", params={"fields": "Email", "per_page": 1}).json()["data"][0]
    response = http.put("/Contacts", json={"data": [{"id": first["id"], "First_Name": name}]})
    response.raise_for_status()


async def _measure(info: dict[str, Any]) -> dict[str, Any]:
    from crmsync.api.v1alpha1.status import Checkpoint
    from crmsync.providers.factory import open_crm, open_target
    from crmsync.providers.http import CallStats
    from crmsync.reconcile.resolve import check_fields
    from crmsync.runtime.sync import RunRequest, SyncRun

    list_id = _new_audience(info, "incremental")
    settings = contacts_settings(list_id)
    crm_endpoint, mc_endpoint = endpoints(info)
    out: dict[str, Any] = {}
    async with (
        open_crm(crm_endpoint, CallStats()) as crm,
        open_target(mc_endpoint, CallStats()) as target,
    ):
        await check_fields(crm, target, settings, list_id, create_missing=True)
        first = await SyncRun(
            crm, target, RunRequest(settings, list_id, Checkpoint(), True)
        ).execute()
        out["members"] = first.members  # fake data has duplicates and bad addresses
        checkpoint = first.checkpoint
        for mode in ("listing", "small"):
            for case in ("quiet", "one edit"):
                if case == "one edit":
                    _edit_one_contact(info, f"Edited-{mode}")
                await asyncio.sleep(1.1)  # past the checkpoint's second
                _reset(info)
                started = time.perf_counter()
                if mode == "listing":
                    await check_fields(crm, target, settings, list_id, create_missing=True)
                request = RunRequest(
                    settings, list_id, checkpoint, False, small_runs=mode == "small"
                )
                result = await SyncRun(crm, target, request).execute()
                seconds = time.perf_counter() - started
                calls = {v: _counters(info[v]["base_url"]) for v in ("zoho_crm", "mailchimp")}
                counts = result.tally.as_counts()
                assert counts.updated == (1 if case == "one edit" else 0), counts
                out[f"{mode}/{case}"] = {
                    "seconds": seconds,
                    "crm": _total(calls["zoho_crm"]),
                    "mailchimp": _total(calls["mailchimp"]),
                    "routes": calls,
                }
                checkpoint = result.checkpoint
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=19_000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp,
        local_vendors(Path(tmp), args.contacts) as info,
    ):
        results = asyncio.run(_measure(info))
    members = results.pop("members")
    print(f"\nIncremental runs, {args.contacts:,} CRM contacts, {members:,} members (same run):\n")
    print(f"{'run':<20} {'CRM calls':>10} {'Mailchimp calls':>16} {'seconds':>9}")
    for key, row in results.items():
        print(f"{key:<20} {row['crm']:>10} {row['mailchimp']:>16} {row['seconds']:>9.2f}")
    for case in ("quiet", "one edit"):
        old, new = results[f"listing/{case}"], results[f"small/{case}"]
        ratio = (old["crm"] + old["mailchimp"]) / max(1, new["crm"] + new["mailchimp"])
        speed = old["seconds"] / max(new["seconds"], 1e-6)
        print(f"{case}: {ratio:.1f}× fewer vendor calls, {speed:.1f}× faster")


if __name__ == "__main__":
    main()
