"""Campaign recipients → CRM records by email: the 10-a-call search against the cheapest way.

Starts the local vendor servers, seeds N Zoho CRM contacts, and links M recipients (the
addresses of M of them, half in other letter cases, plus 5 % unknown addresses) to their
records with ``ZohoCrm.records_by_email``, side by side in the same run:

- **search** (the behaviour before): ``GET /Contacts/search`` with ``(Email:in:…)``, 10
  addresses a call;
- **chosen** (now): COQL ``in`` batches (1,800 addresses, 3 credits a call), or the module's
  listing when that is cheaper (the module is counted first when it could be).

Both for the email only (what campaign activity and abandoned carts ask) and for the
record's fields too (what the reverse sync asks: COQL then finds ids and reads the records
by id, 100 a call). Prints CRM calls, credits (the server's own count) and wall time.

    .venv/bin/python bench/recipients.py [--contacts 20000] [--recipients 5000 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from initial_load import endpoints, local_vendors

FIELDS = ("Email", "First_Name", "Last_Name", "Email_Opt_Out", "Account_Name")


def _credits(info: dict[str, Any]) -> int:
    url = f"{info['zoho_crm']['base_url']}/_admin/zoho_crm/credits"
    return int(httpx.get(url).json()["used"])


def _recipients(emails: list[str], count: int, rng: random.Random) -> list[str]:
    chosen = rng.sample(emails, min(count, len(emails)))
    mixed = [e.upper() if i % 2 else e for i, e in enumerate(chosen)]
    return mixed + [f"unknown{i}@example.net" for i in range(count // 20)]


async def _measure(info: dict[str, Any], sizes: list[int]) -> list[dict[str, Any]]:
    from crmsync.providers.factory import open_crm
    from crmsync.providers.http import CallStats
    from crmsync.providers.zoho_lookup import Lookup

    crm_endpoint, _ = endpoints(info)
    stats = CallStats()
    rows: list[dict[str, Any]] = []
    rng = random.Random(15)
    async with open_crm(crm_endpoint, stats) as crm:
        emails = [
            str(r.values["Email"])
            async for page in crm.records("Contacts", ["Email"])
            for r in page
            if r.values.get("Email")
        ]
        for size in sizes:
            wanted = _recipients(emails, size, rng)
            for fields in (("Email",), FIELDS):
                row: dict[str, Any] = {"recipients": len(wanted), "fields": len(fields)}
                for name, method in (("search", Lookup.SEARCH), ("chosen", None)):
                    calls, credits = stats.api_calls, _credits(info)
                    started = time.perf_counter()
                    found = await crm.records_by_email(
                        "Contacts", "Email", wanted, fields, method=method
                    )
                    row[name] = {
                        "seconds": time.perf_counter() - started,
                        "calls": stats.api_calls - calls,
                        "credits": _credits(info) - credits,
                        "found": sorted((r.id, repr(sorted(r.values.items()))) for r in found),
                    }
                assert row["search"].pop("found") == row["chosen"].pop("found")
                rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--recipients", type=int, nargs="+", default=[5_000, 20_000])
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp,
        local_vendors(Path(tmp), args.contacts) as info,
    ):
        rows = asyncio.run(_measure(info, args.recipients))
    print(f"\nRecipients → CRM records by email, {args.contacts:,} CRM contacts (same run):\n")
    print(
        f"{'recipients':>10} {'fields':>6} | {'search calls':>12} {'credits':>7} {'s':>6} | "
        f"{'chosen calls':>12} {'credits':>7} {'s':>6} | {'fewer calls':>11}"
    )
    for row in rows:
        old, new = row["search"], row["chosen"]
        print(
            f"{row['recipients']:>10,} {row['fields']:>6} | {old['calls']:>12,} "
            f"{old['credits']:>7,} {old['seconds']:>6.1f} | {new['calls']:>12,} "
            f"{new['credits']:>7,} {new['seconds']:>6.1f} | "
            f"{old['calls'] / max(new['calls'], 1):>10.0f}×"
        )


if __name__ == "__main__":
    main()
