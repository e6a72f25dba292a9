"""A ContactSync's full CRM read with its criteria pushed to Zoho (issue 14.3), against
reading the whole module and filtering afterwards, side by side in one run.

Starts the local vendor servers, seeds the CRM with ``--contacts`` contacts, gives them
``Loyalty_Points`` 0–999 evenly, and for criteria selecting 1 %, 10 % and 50 %
(``Loyalty_Points less_than 10 | 100 | 500``) reads the module with the real Zoho CRM
client twice: before (the whole module, as ``records()`` read it, then ``matches_all``) and
after (``records(criteria=…)``: COQL ids and records by id while that costs less, else
the whole read, a Bulk Read job taking the criteria). Both with Bulk Read off (listing
pages of 200) and at the Connection default (Bulk Read above 10,000 records). Zoho CRM
calls and credits are counted by the server (``/_admin/counters``,
``/_admin/zoho_crm/credits``).

    .venv/bin/python bench/criteria_pushdown.py [--contacts 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))
from initial_load import _counters, _total, endpoints

FIELDS = ("Email", "First_Name", "Last_Name", "Email_Opt_Out", "Account_Name", "Loyalty_Points")
SELECTIONS = ((1, "10"), (10, "100"), (50, "500"))
"""(percent selected, Loyalty_Points less_than)."""


def _points(info: dict[str, Any]) -> None:
    """Loyalty_Points 0–999 spread evenly over the contacts (the seed leaves it empty)."""
    from tests.simfixture import ZohoSimAuth

    crm = info["zoho_crm"]
    with httpx.Client(base_url=crm["base_url"], auth=ZohoSimAuth(crm), timeout=120) as http:
        ids: list[str] = []
        params: dict[str, Any] = {"fields": "Last_Name", "per_page": 200}
        while True:
            body = http.get("/crm/v8/Contacts", params=params).json()
            ids += [str(row["id"]) for row in body["data"]]
            if not body["info"]["more_records"]:
                break
            params = {"fields": "Last_Name", "per_page": 200,
                      "page_token": body["info"]["next_page_token"]}  # fmt: skip
        for start in range(0, len(ids), 100):
            rows = [{"id": rid, "Loyalty_Points": (start + i) % 1000}
                    for i, rid in enumerate(ids[start : start + 100])]  # fmt: skip
            http.put("/crm/v8/Contacts", json={"data": rows}).raise_for_status()


async def _read(info: dict[str, Any], below: str, pushed: bool, bulk: bool) -> dict[str, Any]:
    from crmsync.api.v1alpha1.contactsync import Criterion
    from crmsync.engine.criteria import matches_all
    from crmsync.providers.base import CriteriaRead
    from crmsync.providers.factory import open_crm
    from crmsync.providers.http import CallStats
    from crmsync.providers.zoho_bulk import Polling
    from crmsync.providers.zoho_bulk_choice import BULK_READ_THRESHOLD

    criteria = [Criterion.model_validate(
        {"field": "Loyalty_Points", "operator": "less_than", "values": [below]})]  # fmt: skip
    narrowing = CriteriaRead(criteria) if pushed else None
    crm_endpoint, _ = endpoints(info)
    threshold = BULK_READ_THRESHOLD if bulk else None
    read = kept = 0
    started = time.perf_counter()
    async with open_crm(replace(crm_endpoint, bulk_read_threshold=threshold), CallStats()) as crm:
        crm.bulk.polling = Polling(first=0.2, factor=1.5, longest=1.0)
        async for page in crm.records("Contacts", FIELDS, criteria=narrowing):
            read += len(page)
            kept += sum(1 for r in page if matches_all(criteria, r.values))
    return {"seconds": time.perf_counter() - started, "read": read, "kept": kept,
            "narrowed": bool(narrowing and narrowing.narrowed)}  # fmt: skip


def _measure(info: dict[str, Any], below: str, pushed: bool, bulk: bool) -> dict[str, Any]:
    base = info["zoho_crm"]["base_url"]
    httpx.post(f"{base}/_admin/counters/reset").raise_for_status()
    httpx.post(f"{base}/_admin/zoho_crm/credits/reset").raise_for_status()
    result = asyncio.run(_read(info, below, pushed, bulk))
    result["calls"] = _total(_counters(base))
    result["credits"] = httpx.get(f"{base}/_admin/zoho_crm/credits").json()["used"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    args = parser.parse_args()

    from tests.simfixture import run_sim  # starts ``crmsync sim serve``, seeds it

    with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp, run_sim(Path(tmp)) as sim:
        sim.seed(contacts=args.contacts, only=["zoho_crm"], random_seed=args.contacts)
        _points(sim.info)
        sim.admin("zoho_crm", "PUT", "bulk_read", {"processing_ms": 100})
        print(f"full read of {args.contacts} Zoho CRM contacts with one criterion")
        print(f"{'read':<9}{'selected':>9}{'kept':>7}  {'before: whole module':>30}"
              f"  {'after: criteria pushed':>34}  {'credits':>8}{'calls':>7}")  # fmt: skip
        for bulk in (False, True):
            for percent, below in SELECTIONS:
                before = _measure(sim.info, below, pushed=False, bulk=bulk)
                after = _measure(sim.info, below, pushed=True, bulk=bulk)
                assert before["kept"] == after["kept"], (before, after)
                how = "narrowed" if after["narrowed"] else "whole"
                print(
                    f"{'bulk' if bulk else 'listing':<9}{percent:>8}%{after['kept']:>7}  "
                    f"{before['credits']:>6} credits {before['calls']:>4} calls "
                    f"{before['seconds']:>5.1f} s  "
                    f"{after['credits']:>6} credits {after['calls']:>4} calls "
                    f"{after['seconds']:>5.1f} s {how:<8}  "
                    f"{before['credits'] / max(1, after['credits']):>7.1f}x"
                    f"{before['calls'] / max(1, after['calls']):>6.1f}x"
                )


if __name__ == "__main__":
    main()
