"""Initial load CRM → Mailchimp: crmsync against a one-member-per-call SDK baseline.

Starts the local vendor servers (``crmsync sim serve``) over a temporary directory, seeds
N Zoho CRM contacts, and loads them into two fresh Mailchimp audiences, measured in the
same run, each in a process of its own (so its peak RSS is its own):

- **crmsync**: the operator's own sync engine (``SyncRun`` with the real Zoho CRM and
  Mailchimp clients, the same code the operator's reconcile loop runs; the kopf process
  and the Kubernetes control plane around it are left out: they add a few status
  writes, not work per record);
- **baseline**: reads the same CRM pages and upserts one member per call with the
  official ``mailchimp-marketing`` SDK (``client.lists.set_list_member``, its host pointed
  at the local server with ``client.api_client.host``).

Prints records/s, API calls made against the minimum the vendors' batch limits allow
(counted by the servers: ``/_admin/counters``), and peak RSS, with the ratios.
``--in-memory`` also loads a third audience with crmsync holding the whole run in memory
(as before :mod:`crmsync.runtime.spill`), and prints the two side by side; ``--again``
then runs crmsync in full once more over each loaded audience (every member listed and
compared, nothing to write).

    .venv/bin/python bench/initial_load.py [--contacts 100000] [--baseline-limit 0]
        [--in-memory] [--again]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

CRM_PAGE = 200
"""Zoho CRM records per listing call (its maximum)."""
MAILCHIMP_BATCH = 500
"""Mailchimp members per batch subscribe call (its maximum)."""
FIELDS = "Email,First_Name,Last_Name,Email_Opt_Out,Modified_Time"
PARALLEL = int(os.environ.get("CRMSYNC_BENCH_PARALLEL", "10"))
"""Vendor batches written at once (the operator's, for a Connection of 10 in flight; 1 =
one after the other)."""
READ = os.environ.get("CRMSYNC_BENCH_READ", "bulk")
"""How crmsync reads the CRM in full: ``bulk`` (Bulk Read above its threshold, the
default) or ``pages`` (listing pages only); ``--read`` sets it for the child processes."""
SPILL_AFTER = "CRMSYNC_BENCH_SPILL_AFTER"
"""Entries a run holds in memory before they move to disk (unset: the operator's default)."""
IN_MEMORY = 10**12
VENDORS = ("zoho_crm", "mailchimp")


# --- the two contenders (each runs in a child process) ------------------------------


def contacts_settings(list_id: str) -> Any:
    """CRM Contacts → the Mailchimp audience, first and last name mapped."""
    from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
    from crmsync.engine.settings import SyncSettings

    spec = ContactSyncSpec.model_validate(
        {
            "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts"},
            "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
            "fieldMapping": [
                {"crmField": "First_Name", "campaignField": "FNAME"},
                {"crmField": "Last_Name", "campaignField": "LNAME"},
            ],
        }
    )
    return SyncSettings.resolve(spec, mapping=None, policy=None, target_provider="mailchimp")


def endpoints(info: dict[str, Any]) -> tuple[Any, Any]:
    """The local CRM and Mailchimp as Connection endpoints: Mailchimp allows 10 connections
    per key; no client-side request-rate cap here."""
    from crmsync.providers.factory import Endpoint
    from crmsync.providers.zoho_bulk_choice import BULK_READ_THRESHOLD

    crm_info, mc_info = info["zoho_crm"], info["mailchimp"]
    crm = Endpoint(
        provider="zoho-crm",
        credentials={
            "clientId": crm_info["client_id"],
            "clientSecret": crm_info["client_secret"],
            "refreshToken": crm_info["refresh_token"],
        },
        api_base_url=crm_info["base_url"],
        accounts_url=crm_info["base_url"],
        max_concurrency=10,
        requests_per_second=1000,
        bulk_read_threshold=BULK_READ_THRESHOLD if READ == "bulk" else None,
    )
    mc = Endpoint(
        provider="mailchimp",
        credentials={"apiKey": mc_info["api_key"]},
        api_base_url=mc_info["base_url"],
        max_concurrency=10,
        requests_per_second=1000,
    )
    return crm, mc


async def _crmsync(info: dict[str, Any], list_id: str) -> dict[str, Any]:
    from crmsync.api.v1alpha1.status import Checkpoint
    from crmsync.providers.factory import open_crm, open_target
    from crmsync.providers.http import CallStats
    from crmsync.reconcile.resolve import check_fields
    from crmsync.runtime.sync import RunRequest, SyncRun

    settings = contacts_settings(list_id)
    crm_endpoint, mc_endpoint = endpoints(info)
    timeline = Timeline()
    stats = CallStats(observer=timeline)
    started, cpu_started = time.perf_counter(), time.process_time()
    timeline.started = started
    async with (
        open_crm(crm_endpoint, stats) as crm,
        open_target(mc_endpoint, stats) as target,
    ):
        await check_fields(crm, target, settings, list_id, create_missing=True)
        extra: dict[str, Any] = {"parallel_batches": PARALLEL} if PARALLEL > 1 else {}
        if os.environ.get(SPILL_AFTER):
            extra["spill_after"] = int(os.environ[SPILL_AFTER])
        request = RunRequest(settings, list_id, Checkpoint(), full=True, **extra)
        result = await SyncRun(crm, target, request).execute()
    elapsed = time.perf_counter() - started
    counts = result.tally.as_counts()
    return {
        "seconds": elapsed,
        "cpu_seconds": time.process_time() - cpu_started,
        "records": counts.total,
        "members": result.members,
        "added": counts.added,
        "skipped": counts.skipped_duplicate + counts.skipped_ignored,
        "failed": counts.failed,
        "client_calls": stats.api_calls,
        "phases": timeline.phases(),
    }


class Timeline:
    """When the run's vendor calls ended, by vendor: where a load's wall time goes."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ends: dict[str, list[float]] = {}

    def request_done(self, vendor: str, method: str, path: str, status_class: str) -> None:
        if vendor == "mailchimp" and method == "POST" and path.count("/") == 3:
            vendor = "mailchimp batches"  # POST /3.0/lists/{list_id}
        self.ends.setdefault(vendor, []).append(time.perf_counter() - self.started)

    def retry_scheduled(self, vendor: str, reason: str, delay: float) -> None:
        pass

    def phases(self) -> dict[str, tuple[float, float]]:
        """Vendor → (first, last) call end, seconds from the run's start."""
        return {vendor: (ends[0], ends[-1]) for vendor, ends in self.ends.items()}


def _baseline(info: dict[str, Any], list_id: str, limit: int) -> dict[str, Any]:
    import mailchimp_marketing as MailchimpMarketing  # noqa: N812 - the SDK's documented name
    from mailchimp_marketing.api_client import ApiClientError

    crm_info, mc_info = info["zoho_crm"], info["mailchimp"]
    token = httpx.post(
        f"{crm_info['base_url']}/oauth/v2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": crm_info["client_id"],
            "client_secret": crm_info["client_secret"],
            "refresh_token": crm_info["refresh_token"],
        },
    ).json()["access_token"]
    crm = httpx.Client(
        base_url=f"{crm_info['base_url']}/crm/v8",
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        timeout=60,
    )
    client = MailchimpMarketing.Client()
    client.set_config({"api_key": mc_info["api_key"], "server": "us1"})
    client.api_client.host = f"{mc_info['base_url']}/3.0"
    started = time.perf_counter()
    records = upserts = rejected = 0
    params: dict[str, Any] = {"fields": FIELDS, "per_page": CRM_PAGE}
    while True:
        response = crm.get("/Contacts", params=params)
        if response.status_code == 204:
            break
        body = response.json()
        for row in body["data"]:
            records += 1
            email = (row.get("Email") or "").strip().lower()
            if not email or row.get("Email_Opt_Out"):
                continue
            if limit and upserts >= limit:
                continue
            try:
                client.lists.set_list_member(
                    list_id,
                    hashlib.md5(email.encode()).hexdigest(),
                    {
                        "email_address": email,
                        "status_if_new": "subscribed",
                        "merge_fields": {
                            "FNAME": row.get("First_Name") or "",
                            "LNAME": row.get("Last_Name") or "",
                        },
                    },
                )
            except ApiClientError:
                rejected += 1
            upserts += 1
        if not body["info"].get("more_records") or (limit and upserts >= limit):
            break
        params = {
            "fields": FIELDS,
            "per_page": CRM_PAGE,
            "page_token": body["info"]["next_page_token"],
        }
    return {
        "seconds": time.perf_counter() - started,
        "records": records,
        "upserts": upserts,
        "failed": rejected,
    }


def _child(phase: str, info_path: Path, list_id: str, limit: int) -> None:
    info = json.loads(info_path.read_text())
    if phase == "crmsync":
        out = asyncio.run(_crmsync(info, list_id))
    else:
        out = _baseline(info, list_id, limit)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out), flush=True)


# --- the driver ---------------------------------------------------------------------


@contextmanager
def local_vendors(data: Path, contacts: int) -> Iterator[dict[str, Any]]:
    """``crmsync sim serve`` over ``data``, one process per vendor (Zoho CRM, Mailchimp: a
    Mailchimp batch being applied never holds up a CRM page, as between real vendors),
    with ``contacts`` Zoho CRM contacts seeded; their connection info, until they stop."""
    command = [sys.executable, "-m", "crmsync", "sim", "serve", "--data-dir", str(data / "sim")]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    servers = [
        subprocess.Popen(
            [*command, "--vendor", vendor], stdout=subprocess.PIPE, text=True, env=environment
        )
        for vendor in VENDORS
    ]
    try:
        info: dict[str, Any] = {
            "pids": [server.pid for server in servers],
            "pid_of": dict(zip(VENDORS, (server.pid for server in servers), strict=True)),
        }
        for server in servers:
            assert server.stdout is not None
            info.update(json.loads(server.stdout.readline()))
        subprocess.run(
            [sys.executable, "-m", "crmsync", "sim", "seed", "--data-dir", str(data / "sim"),
             "--contacts", str(contacts), "--only", "zoho_crm"],
            check=True, capture_output=True,
        )  # fmt: skip
        yield info
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=30)


def _counters(base_url: str) -> dict[str, int]:
    rows = httpx.get(f"{base_url}/_admin/counters").json()["requests"]
    out: dict[str, int] = {}
    for row in rows:
        out[f"{row['method']} {row['route']}"] = out.get(
            f"{row['method']} {row['route']}", 0
        ) + int(row["count"])
    return out


def _reset(info: dict[str, Any]) -> None:
    for vendor in VENDORS:
        httpx.post(f"{info[vendor]['base_url']}/_admin/counters/reset").raise_for_status()


def _new_audience(info: dict[str, Any], name: str) -> str:
    mc = info["mailchimp"]
    http = httpx.Client(base_url=f"{mc['base_url']}/3.0", auth=("bench", mc["api_key"]))
    body = {
        "name": name,
        "permission_reminder": "You signed up in our CRM.",
        "email_type_option": False,
        "contact": {"company": "bench", "address1": "1 Main St", "city": "Madrid",
                    "state": "M", "zip": "28001", "country": "ES"},
        "campaign_defaults": {"from_name": "bench", "from_email": "bench@example.com",
                              "subject": "News", "language": "en"},
    }  # fmt: skip
    list_id = str(http.post("/lists", json=body).json()["id"])
    for tag, label in (("FNAME", "First Name"), ("LNAME", "Last Name")):
        http.post(
            f"/lists/{list_id}/merge-fields", json={"tag": tag, "name": label, "type": "text"}
        )
    return list_id


def _run_phase(
    phase: str, info: dict[str, Any], info_path: Path, list_id: str, limit: int
) -> dict[str, Any]:
    _reset(info)
    vendor_cpu = {vendor: _cpu_seconds(pid) for vendor, pid in info["pid_of"].items()}
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--info", str(info_path),
         "--list-id", list_id, "--baseline-limit", str(limit)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["cpu_by_vendor"] = {
        vendor: _cpu_seconds(pid) - vendor_cpu[vendor] for vendor, pid in info["pid_of"].items()
    }
    result["vendor_cpu_seconds"] = sum(result["cpu_by_vendor"].values())
    result["calls"] = {v: _counters(info[v]["base_url"]) for v in VENDORS}
    return result


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a running process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _total(calls: dict[str, int], prefix: str = "") -> int:
    return sum(
        n
        for route, n in calls.items()
        if "/oauth/" not in route and "/_admin/" not in route and prefix in route
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument(
        "--baseline-limit",
        type=int,
        default=0,
        help="baseline upserts at most this many members (0: all; figures are per record)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="added to every vendor call (the servers' own latency fault), like a real network",
    )
    parser.add_argument(
        "--read",
        choices=("bulk", "pages"),
        default=READ,
        help="crmsync's full CRM read: Bulk Read above 10,000 records, or listing pages only",
    )
    parser.add_argument(
        "--in-memory",
        action="store_true",
        help="also run crmsync with the whole run in memory (before runs spilled to disk)",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="then a second full crmsync run over the loaded audience (with --in-memory)",
    )
    parser.add_argument("--phase", choices=("crmsync", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--info", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--list-id", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["CRMSYNC_BENCH_READ"] = args.read
    if args.phase:
        _child(args.phase, args.info, args.list_id, args.baseline_limit)
        return

    with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        data = Path(tmp)
        started = time.perf_counter()
        with local_vendors(data, args.contacts) as info:
            print(f"seeded {args.contacts} CRM contacts in {time.perf_counter() - started:.0f} s")
            info_path = data / "info.json"
            info_path.write_text(json.dumps(info))
            for vendor in VENDORS:
                httpx.put(
                    f"{info[vendor]['base_url']}/_admin/faults",
                    json={"latency_ms": args.latency_ms},
                ).raise_for_status()
            ours_list, held_list = _new_audience(info, "crmsync"), _new_audience(info, "memory")
            ours = _run_phase("crmsync", info, info_path, ours_list, 0)
            side_by_side: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
            if args.in_memory:
                for label in ("initial load", "full run again")[: 1 + args.again]:
                    if label != "initial load":
                        ours = _run_phase("crmsync", info, info_path, ours_list, 0)
                    os.environ[SPILL_AFTER] = str(IN_MEMORY)
                    held = _run_phase("crmsync", info, info_path, held_list, 0)
                    del os.environ[SPILL_AFTER]
                    side_by_side.append((label, ours, held))
                ours = side_by_side[0][1]
            base = _run_phase(
                "baseline", info, info_path, _new_audience(info, "baseline"), args.baseline_limit
            )
    _report(args.contacts, ours, base, args.latency_ms)
    for label, spilled, held in side_by_side:
        _report_memory(label, spilled, held)


def _report_memory(label: str, spilled: dict[str, Any], held: dict[str, Any]) -> None:
    """crmsync as it is (spilling past its limit) beside the whole run held in memory."""
    print(f"\n{'crmsync, ' + label:<34}{'spilled':>14}{'in memory':>18}{'ratio':>10}")
    rates = [r["records"] / r["seconds"] for r in (spilled, held)]
    print(f"{'records/s':<34}{rates[0]:>14.0f}{rates[1]:>18.0f}{rates[0] / rates[1]:>9.2f}x")
    cpu = [r["cpu_seconds"] for r in (spilled, held)]
    print(f"{'crmsync CPU s':<34}{cpu[0]:>14.1f}{cpu[1]:>18.1f}{cpu[0] / cpu[1]:>9.2f}x")
    rss = [r["peak_rss_mib"] for r in (spilled, held)]
    print(f"{'peak RSS (MiB)':<34}{rss[0]:>14.0f}{rss[1]:>18.0f}{rss[0] / rss[1]:>9.2f}x")


def _report(
    contacts: int, ours: dict[str, Any], base: dict[str, Any], latency_ms: float = 0.0
) -> None:
    ours_rate = ours["records"] / ours["seconds"]
    base_rate = base["records"] / base["seconds"]
    ours_crm, ours_mc = _total(ours["calls"]["zoho_crm"]), _total(ours["calls"]["mailchimp"])
    base_crm, base_mc = _total(base["calls"]["zoho_crm"]), _total(base["calls"]["mailchimp"])
    minimum_crm = math.ceil(contacts / CRM_PAGE)
    minimum_mc = math.ceil(ours["added"] / MAILCHIMP_BATCH)
    print(f"\ninitial load of {contacts} CRM contacts → Mailchimp (local vendor servers)")
    print(f"{'':<34}{'crmsync':>14}{'baseline (SDK)':>18}{'ratio':>10}")
    print(f"{'records/s':<34}{ours_rate:>14.0f}{base_rate:>18.0f}{ours_rate / base_rate:>9.1f}x")
    print(
        f"{'wall time (s)':<34}{ours['seconds']:>14.1f}{base['seconds']:>18.1f}"
        f"{'(baseline: ' + str(base['upserts']) + ' upserts)':>30}"
    )
    print(f"{'Mailchimp calls':<34}{ours_mc:>14}{base_mc:>18}{base_mc / max(ours_mc, 1):>9.1f}x")
    print(f"{'  minimum by batch limit (500)':<34}{minimum_mc:>14}")
    print(f"{'Zoho CRM calls (excl. OAuth)':<34}{ours_crm:>14}{base_crm:>18}")
    read = os.environ.get("CRMSYNC_BENCH_READ", READ)
    print(f"{'  minimum by page limit (200)':<34}{minimum_crm:>14}   (crmsync read: {read})")
    print(
        f"{'peak RSS (MiB)':<34}{ours['peak_rss_mib']:>14.0f}{base['peak_rss_mib']:>18.0f}"
        f"{ours['peak_rss_mib'] / base['peak_rss_mib']:>9.1f}x"
    )
    cpu = ours["cpu_seconds"]
    print(
        f"{'CPU s: crmsync / vendor servers':<34}{cpu:>8.1f} / {ours['vendor_cpu_seconds']:<5.1f}"
        f"   ({ours['records'] / cpu:,.0f} records per crmsync CPU-second; the servers use "
        f"{ours['vendor_cpu_seconds'] / cpu:.2f}x its CPU)"
    )
    phases = ", ".join(
        f"{vendor} {first:.1f}–{last:.1f} s" for vendor, (first, last) in ours["phases"].items()
    )
    print(f"{'crmsync calls answered (from, to)':<34}  {phases}")
    if latency_ms:
        # Zoho pages beyond 2,000 records follow a page token: read one after the other.
        sequential = minimum_crm * latency_ms / 1000
        parallel = max(minimum_crm, minimum_mc) / 10 * latency_ms / 1000
        print(f"\nat {latency_ms:.0f} ms per vendor call, the physical floor is")
        print(
            f"  CRM pages read in sequence, writes overlapped: {sequential:>7.1f} s"
            f"  (crmsync {ours['seconds']:.1f} s = {ours['seconds'] / sequential:.2f}x)"
        )
        print(f"  10 requests in flight on both sides:            {parallel:>7.1f} s")
        # Once the records are in hand, the writes can go no faster than 10 batches a
        # round trip, nor than the local Mailchimp applies them (one SQLite writer).
        first, last = ours["phases"].get("mailchimp batches", (0.0, 0.0))
        rounds = math.ceil(minimum_mc / 10) * latency_ms / 1000
        applying = ours["cpu_by_vendor"]["mailchimp"]
        writes_floor = max(rounds, applying)
        print(
            f"  Mailchimp writes, 10 in flight: {rounds:.1f} s; the local server's own work:"
            f" {applying:.1f} s; crmsync's writes took {last - first:.1f} s"
            f" = {(last - first) / writes_floor:.2f}x the larger"
        )
    print(
        f"\ncrmsync: {ours['added']} added, {ours['skipped']} skipped (duplicate/invalid/opted "
        f"out), {ours['failed']} rejected; baseline: {base['failed']} rejected"
    )
    print("crmsync Mailchimp calls by route:")
    for route, n in sorted(ours["calls"]["mailchimp"].items(), key=lambda kv: -kv[1]):
        print(f"  {n:>7}  {route}")


if __name__ == "__main__":
    main()
