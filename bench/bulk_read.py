"""Full reads of Zoho CRM Contacts: listing pages against Bulk Read, side by side.

Starts the local vendor servers, seeds the CRM up to each size asked for, and for each
size reads every contact with the real Zoho CRM client twice, each read in a process of
its own (so its peak RSS is its own): once listing pages of 200 (``GET /Contacts``,
``page_token``), once through Bulk Read (one job per 200,000 records, the ZIP streamed to
disk, the CSV spooled in listing order). With ``--engine``, the same two reads feed the
sync engine into fresh Mailchimp audiences (``bench/initial_load.py``'s crmsync phase).

Prints wall time, the reading process's CPU time (crmsync's own cost: the wall time also
holds the local server's work, which stands in for Zoho's), records, Zoho CRM calls and
credits (counted by the server: ``/_admin/counters`` without OAuth,
``/_admin/zoho_crm/credits``) and peak RSS.

    .venv/bin/python bench/bulk_read.py [--contacts 20000,100000] [--latency-ms 0] [--engine]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))
from initial_load import _counters, _new_audience, _run_phase, _total, endpoints

FIELDS = ("Email", "First_Name", "Last_Name", "Email_Opt_Out")
MODES = ("pages", "bulk")


async def _read(info: dict[str, Any], mode: str) -> dict[str, Any]:
    from dataclasses import replace

    from crmsync.providers.factory import open_crm
    from crmsync.providers.http import CallStats
    from crmsync.providers.zoho_bulk_choice import BULK_READ_THRESHOLD

    crm_endpoint, _ = endpoints(info)
    threshold = BULK_READ_THRESHOLD if mode == "bulk" else None
    records = 0
    started = time.perf_counter()
    async with open_crm(replace(crm_endpoint, bulk_read_threshold=threshold), CallStats()) as crm:
        async for page in crm.records("Contacts", FIELDS):
            records += len(page)
    return {"seconds": time.perf_counter() - started, "records": records}


def _child(info_path: Path, mode: str) -> None:
    out = asyncio.run(_read(json.loads(info_path.read_text()), mode))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["peak_rss_mib"] = usage.ru_maxrss / 1024
    out["cpu_s"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(out), flush=True)


def _crm_admin(info: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    response = httpx.request(method, f"{info['zoho_crm']['base_url']}/_admin/zoho_crm/{path}")
    response.raise_for_status()
    return dict(response.json())


def _measure(info: dict[str, Any], info_path: Path, mode: str, engine: bool) -> dict[str, Any]:
    _crm_admin(info, "POST", "credits/reset")
    if engine:
        os.environ["CRMSYNC_BENCH_READ"] = mode
        result = _run_phase("crmsync", info, info_path, _new_audience(info, f"bulk-{mode}"), 0)
        crm_calls = _total(result["calls"]["zoho_crm"])
    else:
        httpx.post(f"{info['zoho_crm']['base_url']}/_admin/counters/reset").raise_for_status()
        out = subprocess.run(
            [sys.executable, __file__, "--phase", mode, "--info", str(info_path)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        result = json.loads(out.stdout.strip().splitlines()[-1])
        crm_calls = _total(_counters(info["zoho_crm"]["base_url"]))
    result["crm_calls"] = crm_calls
    result["credits"] = _crm_admin(info, "GET", "credits")["used"]
    return result


def _report(contacts: int, latency_ms: float, engine: bool, rows: dict[str, Any]) -> None:
    what = "initial load → Mailchimp" if engine else "full read"
    print(f"\n{what} of {contacts} CRM contacts, {latency_ms:.0f} ms per vendor call")
    print(f"{'':<22}{'pages':>12}{'bulk':>12}{'ratio':>10}")
    pages, bulk = rows["pages"], rows["bulk"]
    lines = (
        ("wall time (s)", "seconds", "{:.1f}"),
        ("crmsync CPU (s)", "cpu_s", "{:.1f}"),
        ("records", "records", "{}"),
        ("Zoho CRM calls", "crm_calls", "{}"),
        ("Zoho CRM credits", "credits", "{}"),
        ("peak RSS (MiB)", "peak_rss_mib", "{:.0f}"),
    )
    for label, key, shape in lines:
        if key not in pages:
            continue
        ratio = pages[key] / bulk[key] if bulk[key] else 0.0
        print(
            f"{label:<22}{shape.format(pages[key]):>12}{shape.format(bulk[key]):>12}{ratio:>9.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", default="20000,100000", help="sizes, comma-separated")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--engine", action="store_true", help="load Mailchimp with the engine")
    parser.add_argument("--phase", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--info", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _child(args.info, args.phase)
        return

    from tests.simfixture import run_sim  # starts ``crmsync sim serve``, seeds it

    sizes = sorted(int(n) for n in args.contacts.split(","))
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp, run_sim(Path(tmp)) as sim:
        info_path = Path(tmp) / "info.json"
        info_path.write_text(json.dumps(sim.info))
        seeded = 0
        for size in sizes:
            started = time.perf_counter()
            sim.seed(contacts=size - seeded, only=["zoho_crm"], random_seed=size)
            seeded = size
            print(f"seeded up to {size} contacts in {time.perf_counter() - started:.0f} s")
            for vendor in ("zoho_crm", "mailchimp"):
                sim.set_faults(vendor, latency_ms=args.latency_ms)
            rows = {mode: _measure(sim.info, info_path, mode, args.engine) for mode in MODES}
            _report(size, args.latency_ms, args.engine, rows)


if __name__ == "__main__":
    main()
