"""Many ContactSyncs on a few Connections and shared audiences, on the real control plane.

Starts a local kube-apiserver + etcd (``crmsync controlplane``), the local vendor servers
and ``crmsync run``, then applies N ContactSyncs of 2 contacts each (one CRM Connection,
one Mailchimp Connection, 4 audiences shared by the syncs) and measures:

- seconds until every sync has run (Synced=True), the vendor calls that took, and the
  operator's peak RSS;
- whether the shared audiences hold every member some sync wants (none archived);
- Zoho access tokens minted, from the start and over an idle minute;
- vendor calls and operator CPU over an idle minute;
- Kubernetes API requests over that idle minute, by verb and resource (the API server's
  own ``apiserver_request_total``: nothing else talks to it meanwhile);
- notification channels the CRM holds once all are Synced (14.3: one per Connection and
  module, was one per sync);
- ten CRM edits: seconds until the member shows each in Mailchimp (p50, slowest), how many
  notifications the CRM delivered for each and how many syncs ran;
- five new CRM contacts, each in one sync's criteria: seconds until Mailchimp has each
  (p50, slowest) and how many syncs ran;
- the operator's RSS after the load and at its peak, and its CPU while loading.

``--tracemalloc DIR`` has the operator trace its allocations and dump a snapshot before the
load, after it and after the idle minute (``bench/memory_top.py`` reads them);
``--census DIR`` writes its live objects by type at the same moments instead (cheap).

``--operator-pythonpath PATH`` runs the operator from another checkout (e.g.
``OLD/operator:OLD/testbed/src``); ``--compare PATH`` runs that one first, then this
checkout, and prints both side by side.

    .venv/bin/python bench/many_syncs.py [--syncs 100] [--operator-pythonpath PATH | --compare PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.kube import Kube  # noqa: E402
from tests.simfixture import SimServers, ZohoSimAuth, run_sim  # noqa: E402

from crmsync_testbed.controlplane import ControlPlane  # noqa: E402
from crmsync_testbed.controlplane.binaries import find_binaries  # noqa: E402
from crmsync_testbed.controlplane.process import free_port  # noqa: E402

T = TypeVar("T")
NAMESPACE = "bench"
AUDIENCES = 4
PER_SYNC = 2
IDLE_SECONDS = 60
EDITS = 10
CREATES = 5
"""Edits measured one after another (the slowest of ten stands for the p99)."""
UNLIMITED_RATE = 200
"""The bench Connections' requestsPerSecond: neither Mailchimp nor Zoho CRM documents a
rate, only requests in flight (and Zoho, daily credits)."""


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def connections(sim: SimServers) -> str:
    crm, mc = sim.info["zoho_crm"], sim.info["mailchimp"]
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: zoho-crm}}
stringData: {{clientId: "{crm["client_id"]}", clientSecret: "{crm["client_secret"]}", refreshToken: "{crm["refresh_token"]}"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: mailchimp}}
stringData: {{apiKey: "{mc["api_key"]}"}}
---
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: crm}}
spec:
  provider: zoho-crm
  credentialsSecretRef: {{name: zoho-crm}}
  apiBaseUrl: "{crm["base_url"]}"
  accountsUrl: "{crm["base_url"]}"
  # Zoho CRM's documented limits: concurrency by edition (the local CRM is Standard: 10)
  # and daily credits, no rate.
  rateLimit: {{maxConcurrency: 10, requestsPerSecond: {UNLIMITED_RATE}}}
---
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: mailchimp}}
spec:
  provider: mailchimp
  credentialsSecretRef: {{name: mailchimp}}
  apiBaseUrl: "{mc["base_url"]}"
  # Mailchimp's documented limit: 10 connections in flight per API key, no rate.
  rateLimit: {{maxConcurrency: 10, requestsPerSecond: {UNLIMITED_RATE}}}
"""


def new_audience(http: httpx.Client, name: str) -> str:
    body = {
        "name": name, "permission_reminder": "CRM", "email_type_option": False,
        "contact": {"company": "bench", "address1": "1 Main St", "city": "Madrid",
                    "state": "M", "zip": "28001", "country": "ES"},
        "campaign_defaults": {"from_name": "bench", "from_email": "bench@example.com",
                              "subject": "News", "language": "en"},
    }  # fmt: skip
    return str(http.post("/lists", json=body).json()["id"])


def sync_manifest(name: str, list_id: str, marker: str, poll: str = "5m") -> dict[str, Any]:
    return {
        "apiVersion": "crmsync.dev/v1alpha1",
        "kind": "ContactSync",
        "metadata": {"name": name},
        "spec": {
            "crm": {
                "connectionRef": {"name": "crm"},
                "module": "Contacts",
                "criteria": [{"field": "Description", "operator": "equals", "values": [marker]}],
            },
            "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
            "fieldMapping": [{"crmField": "First_Name", "campaignField": "FNAME"}],
            "trigger": {"mode": "Instant", "pollInterval": poll},
        },
    }


def calls(sim: SimServers, vendor: str) -> tuple[int, int]:
    """(API calls, token mints) the server counted since its last reset."""
    rows = sim.counters(vendor)["requests"]
    api = sum(
        int(r["count"]) for r in rows if "/oauth/" not in r["route"] and "_admin" not in r["route"]
    )
    tokens = sum(int(r["count"]) for r in rows if "/oauth/v2/token" in r["route"])
    return api, tokens


def calls_by_route(sim: SimServers, vendor: str) -> Counter[str]:
    """The API calls the server counted since its last reset, by ``METHOD route``."""
    counts: Counter[str] = Counter()
    for r in sim.counters(vendor)["requests"]:
        if "/oauth/" not in r["route"] and "_admin" not in r["route"]:
            counts[f"{vendor} {r['method']} {r['route']}"] += int(r["count"])
    return counts


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int, key: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return 0.0


_REQUEST_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


def api_requests(kube: Kube) -> Counter[str]:
    """The API server's request counts so far, as ``VERB resource[/subresource]``."""
    counts: Counter[str] = Counter()
    for line in kube.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        match = _REQUEST_SAMPLE.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        what = labels.get("resource", "") + (
            f"/{labels['subresource']}" if labels.get("subresource") else ""
        )
        counts[f"{labels.get('verb', '')} {what}"] += int(float(match["value"]))
    return counts


@dataclass
class Stage:
    kube: Kube
    sim: SimServers
    crm: httpx.Client
    mc: httpx.Client
    audiences: list[str]
    people: dict[str, list[str]]
    ids: list[str]


def prepare(kube: Kube, sim: SimServers, syncs: int) -> Stage:
    """Audiences, CRM contacts (PER_SYNC per sync, marked) and the Connections."""
    sim.set_token_limit("zoho_crm", 100_000)  # count mints, never refuse them here
    crm_info, mc_info = sim.info["zoho_crm"], sim.info["mailchimp"]
    crm = httpx.Client(
        base_url=f"{crm_info['base_url']}/crm/v8", auth=ZohoSimAuth(crm_info), timeout=60
    )
    mc = httpx.Client(
        base_url=f"{mc_info['base_url']}/3.0", auth=("bench", mc_info["api_key"]), timeout=60
    )
    audiences = [new_audience(mc, f"shared-{i}") for i in range(AUDIENCES)]
    people: dict[str, list[str]] = {}
    rows = []
    for i in range(syncs):
        marker = f"bench-{i}"
        people[marker] = [f"{marker}.{j}@example.com" for j in range(PER_SYNC)]
        rows += [{"Last_Name": f"P{i}-{j}", "First_Name": "Before", "Email": e,
                  "Description": marker} for j, e in enumerate(people[marker])]  # fmt: skip
    ids: list[str] = []
    for start in range(0, len(rows), 100):
        answer = crm.post("/Contacts", json={"data": rows[start : start + 100]}).json()
        ids += [str(item["details"]["id"]) for item in answer["data"]]
    kube.kubectl("apply", "-n", NAMESPACE, "-f", "-", stdin=connections(sim))
    return Stage(kube, sim, crm, mc, audiences, people, ids)


def live_channels(crm: httpx.Client) -> int:
    response = crm.get("/actions/watch")
    if response.status_code == 204:
        return 0
    return len({c["channel_id"] for c in response.json()["watch"]})


def deliveries_naming(sim: SimServers, record_id: str) -> int:
    """The CRM's notification deliveries that named this record (its last 500 are kept)."""
    sent = sim.admin("zoho_crm", "GET", "notifications")["deliveries"]
    return sum(1 for d in sent if record_id in (d["body"].get("ids") or []))


def connections_ready(kube: Kube) -> bool:
    items = kube.get_json("connections", "-n", NAMESPACE)["items"]
    return len(items) == 2 and all(
        any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (item.get("status") or {}).get("conditions") or []
        )
        for item in items
    )


def synced(kube: Kube) -> int:
    items = kube.get_json("contactsyncs", "-n", NAMESPACE)["items"]
    return sum(
        1
        for item in items
        for c in (item.get("status") or {}).get("conditions") or []
        if c["type"] == "Synced" and c["status"] == "True"
    )


def last_runs(kube: Kube) -> dict[str, str]:
    return {
        item["metadata"]["name"]: ((item.get("status") or {}).get("lastRun") or {}).get("id", "")
        for item in kube.get_json("contactsyncs", "-n", NAMESPACE)["items"]
    }


def load(stage: Stage, syncs: int, pid: int, poll: str, out: dict[str, Any]) -> None:
    """Apply the syncs; until all Synced; then whether the shared audiences hold everyone."""
    manifests = [
        sync_manifest(f"s{i}", stage.audiences[i % AUDIENCES], f"bench-{i}", poll)
        for i in range(syncs)
    ]
    out["rss_before_load_mib"] = rss_mib(pid, "VmRSS")
    requests_before = api_requests(stage.kube)
    started = time.monotonic()
    cpu_before = cpu_seconds(pid)
    stage.kube.kubectl(
        "apply", "-n", NAMESPACE, "-f", "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}),
    )  # fmt: skip
    # Each look lists every sync: at a thousand, a look every 2 s loads the API server.
    every = max(2.0, syncs / 200)
    wait_for(lambda: synced(stage.kube) == syncs, timeout=1800, what="all Synced", every=every)
    out["until_synced_s"] = time.monotonic() - started
    out["load_cpu_pct"] = 100 * (cpu_seconds(pid) - cpu_before) / out["until_synced_s"]
    out["rss_after_load_mib"] = rss_mib(pid, "VmRSS")
    out["machine_load_1m"] = os.getloadavg()[0]  # other work on the machine skews the times
    # The waiting above lists the syncs: those GETs are the bench's, not the operator's.
    requests = api_requests(stage.kube) - requests_before
    out["load_kube_requests_per_sync"] = {
        what: round(n / syncs, 2)
        for what, n in sorted(requests.items(), key=lambda i: -i[1])
        if n >= syncs / 10
    }
    crm_calls, out["tokens_start"] = calls(stage.sim, "zoho_crm")
    out["load_calls_crm"] = crm_calls
    out["load_calls_mailchimp"] = calls(stage.sim, "mailchimp")[0]
    out["load_calls_per_sync"] = round((crm_calls + out["load_calls_mailchimp"]) / syncs, 2)
    for vendor in ("zoho_crm", "mailchimp"):
        out[f"load_calls_{vendor}_by_route"] = calls_by_route(stage.sim, vendor)
    out["crm_channels"] = live_channels(stage.crm)
    time.sleep(10)  # syncs undoing each other's members would show by now
    wanted = {e for emails in stage.people.values() for e in emails}
    held: set[str] = set()
    for list_id in stage.audiences:
        body = stage.mc.get(
            f"/lists/{list_id}/members", params={"count": 1000, "status": "subscribed"}
        ).json()
        held |= {m["email_address"] for m in body["members"]}
    out["members_wanted"] = len(wanted)
    out["members_held"] = len(wanted & held)


def idle(stage: Stage, pid: int, out: dict[str, Any]) -> None:
    for vendor in ("zoho_crm", "mailchimp"):
        stage.sim.reset_counters(vendor)
    cpu_before = cpu_seconds(pid)
    requests_before = api_requests(stage.kube)
    time.sleep(IDLE_SECONDS)
    out["idle_cpu_pct"] = 100 * (cpu_seconds(pid) - cpu_before) / IDLE_SECONDS
    # Less the one /metrics read that took the snapshot.
    requests = api_requests(stage.kube) - requests_before - Counter({"GET ": 1})
    per_minute = 60 / IDLE_SECONDS
    out["idle_kube_requests_per_min"] = round(sum(requests.values()) * per_minute)
    out["idle_kube_requests"] = {
        what: round(n * per_minute) for what, n in sorted(requests.items(), key=lambda i: -i[1])
    }
    crm_calls, tokens = calls(stage.sim, "zoho_crm")
    out["idle_calls_per_min"] = crm_calls + calls(stage.sim, "mailchimp")[0]
    routes = calls_by_route(stage.sim, "zoho_crm") + calls_by_route(stage.sim, "mailchimp")
    out["idle_calls_by_route"] = {
        what: round(n * per_minute) for what, n in sorted(routes.items(), key=lambda i: -i[1])
    }
    out["idle_tokens"] = tokens


def edit(stage: Stage, out: dict[str, Any], edits: int = EDITS) -> None:
    """CRM edits one after another, each to a contact of another sync: until Mailchimp
    shows each, and how many syncs ran for them."""
    before = last_runs(stage.kube)
    latencies: list[float] = []
    notified = 0
    for n in range(min(edits, len(stage.people))):
        marker, contact = f"bench-{n}", n * PER_SYNC
        audience = stage.audiences[n % AUDIENCES]
        subscriber = hashlib.md5(stage.people[marker][0].encode()).hexdigest()
        value = f"After{n}"
        edited = time.monotonic()
        stage.crm.put("/Contacts", json={"data": [{"id": stage.ids[contact], "First_Name": value}]})

        def shown(
            audience: str = audience, subscriber: str = subscriber, value: str = value
        ) -> bool:
            member = stage.mc.get(f"/lists/{audience}/members/{subscriber}").json()
            return bool(member.get("merge_fields", {}).get("FNAME") == value)

        wait_for(shown, timeout=300, what="the edit in Mailchimp", every=0.05)
        latencies.append(time.monotonic() - edited)
        notified += deliveries_naming(stage.sim, stage.ids[contact])
    time.sleep(10)
    latencies.sort()
    out["edits"] = len(latencies)
    out["edit_to_mailchimp_p50_s"] = latencies[len(latencies) // 2]
    out["edit_to_mailchimp_max_s"] = latencies[-1]
    out["notifications_per_edit"] = round(notified / len(latencies), 2)
    after = last_runs(stage.kube)
    runs = sum(1 for name, run in after.items() if before.get(name) != run)
    out["runs_per_edit"] = round(runs / len(latencies), 2)


def create(stage: Stage, out: dict[str, Any], creates: int = CREATES) -> None:
    """New CRM contacts one after another, each in the criteria of one sync (no sync holds
    it yet: the syncs on the channel must read it to know): until Mailchimp has each, and
    how many syncs ran for them."""
    before = last_runs(stage.kube)
    latencies: list[float] = []
    for n in range(min(creates, len(stage.people))):
        marker = f"bench-{len(stage.people) - 1 - n}"
        audience = stage.audiences[(len(stage.people) - 1 - n) % AUDIENCES]
        email = f"{marker}.new@example.com"
        subscriber = hashlib.md5(email.encode()).hexdigest()
        created = time.monotonic()
        row = {"Last_Name": f"New{n}", "First_Name": "New", "Email": email, "Description": marker}
        stage.crm.post("/Contacts", json={"data": [row]})

        def shown(audience: str = audience, subscriber: str = subscriber) -> bool:
            member = stage.mc.get(f"/lists/{audience}/members/{subscriber}")
            return member.status_code == 200 and member.json().get("status") == "subscribed"

        wait_for(shown, timeout=300, what="the new contact in Mailchimp", every=0.05)
        latencies.append(time.monotonic() - created)
    time.sleep(10)
    latencies.sort()
    out["creates"] = len(latencies)
    out["create_to_mailchimp_p50_s"] = latencies[len(latencies) // 2]
    out["create_to_mailchimp_max_s"] = latencies[-1]
    after = last_runs(stage.kube)
    out["runs_per_create"] = round(
        sum(1 for name, run in after.items() if before.get(name) != run) / len(latencies), 2
    )


def snapshot(pid: int, tracing: Path | None) -> None:
    """Have a tracing operator dump its allocations (crmsync.memprofile), and wait for it."""
    if tracing is None:
        return

    def dumped() -> int:
        return len(list(tracing.glob("snapshot-*.pickle")) + list(tracing.glob("census-*.json")))

    before = dumped()
    os.kill(pid, signal.SIGUSR1)
    wait_for(lambda: dumped() > before, timeout=300, what="the allocation snapshot")
    time.sleep(2)  # a tracemalloc snapshot's file appears when its dump starts


def bench(
    syncs: int,
    operator_path: str | None,
    work: Path,
    poll: str = "5m",
    tracing: Path | None = None,
    census: bool = False,
) -> dict[str, Any]:
    plane = ControlPlane(work / "plane")
    plane.start(find_binaries())
    kube = Kube(plane, find_binaries())
    # The CRDs of the operator that runs: an older checkout has older schemas.
    checkout = Path(operator_path.split(os.pathsep)[0]).parent if operator_path else REPO
    kube.apply(checkout / "crds")
    kube.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    kube.kubectl("create", "namespace", NAMESPACE)
    out: dict[str, Any] = {"syncs": syncs}
    env = {**kube.env, "PYTHONUNBUFFERED": "1"}
    if operator_path:
        env["PYTHONPATH"] = operator_path
    if tracing is not None:
        env["CRMSYNC_MEMCENSUS" if census else "CRMSYNC_TRACEMALLOC"] = str(tracing)
    try:
        with run_sim(work / "sim") as sim:
            stage = prepare(kube, sim, syncs)
            with (work / "operator.log").open("wb") as log:
                operator = subprocess.Popen(
                    [sys.executable, "-m", "crmsync", "run", "--standalone",
                     f"--namespace={NAMESPACE}", "--webhook-port=0", f"--metrics-port={free_port()}"],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            try:
                for vendor in ("zoho_crm", "mailchimp"):
                    sim.reset_counters(vendor)
                # Started, with its Connections verified: the load measures the syncs alone.
                wait_for(lambda: connections_ready(kube), timeout=300, what="Ready Connections")
                snapshot(operator.pid, tracing)
                load(stage, syncs, operator.pid, poll, out)
                snapshot(operator.pid, tracing)
                idle(stage, operator.pid, out)
                snapshot(operator.pid, tracing)
                edit(stage, out)
                create(stage, out)
                out["operator_peak_rss_mib"] = rss_mib(operator.pid)
                out["rss_per_sync_kib"] = round(1024 * out["rss_after_load_mib"] / syncs)
                grown = out["rss_after_load_mib"] - out["rss_before_load_mib"]
                out["rss_growth_per_sync_kib"] = round(1024 * grown / syncs)
            finally:
                operator.send_signal(signal.SIGTERM)
                try:
                    operator.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    operator.kill()
    finally:
        plane.stop()
    log_text = (work / "operator.log").read_text(errors="replace")
    out["log_pool_timeouts"] = log_text.count("PoolTimeout")
    out["log_loop_failures"] = log_text.count("contactsync_loop failed")
    return out


def side_by_side(before: dict[str, Any], after: dict[str, Any]) -> str:
    """One row per figure: before, after."""
    rows = [("", "before", "after")]
    for key in before | after:
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) or isinstance(new, dict):
            for what in (old or {}) | (new or {}):
                rows.append((f"  {what}", str((old or {}).get(what, 0)), str((new or {}).get(what, 0))))  # fmt: skip
            continue
        rows.append((key, _figure(old), _figure(new)))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{r[0]:<{width}}  {r[1]:>10}  {r[2]:>10}" for r in rows)


def _figure(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def run_in(args: argparse.Namespace, operator_path: str | None, label: str) -> dict[str, Any]:
    where = args.census or args.tracemalloc
    if args.work_dir:
        (args.work_dir / label).mkdir(parents=True, exist_ok=True)
        work = args.work_dir / label
        return bench(
            args.syncs, operator_path, work, args.poll_interval, where, args.census is not None
        )
    with tempfile.TemporaryDirectory(prefix="crmsync-many-") as tmp:
        return bench(
            args.syncs, operator_path, Path(tmp), args.poll_interval, where, args.census is not None
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--syncs", type=int, default=100)
    parser.add_argument("--operator-pythonpath", help="run the operator from this PYTHONPATH")
    parser.add_argument("--compare", help="PYTHONPATH of the operator before: run both")
    parser.add_argument("--work-dir", type=Path, help="keep the operator log and data here")
    parser.add_argument(
        "--poll-interval",
        default="5m",
        help="the syncs' pollInterval (1m: every idle minute polls)",
    )
    parser.add_argument(
        "--tracemalloc", type=Path, help="the operator dumps allocation snapshots here"
    )
    parser.add_argument(
        "--census", type=Path, help="the operator writes its objects by type here (cheap)"
    )
    args = parser.parse_args()
    if args.compare:
        before = run_in(args, args.compare, "before")
        print(json.dumps(before, indent=2), flush=True)
        after = run_in(args, args.operator_pythonpath, "after")
        print(json.dumps(after, indent=2))
        print(side_by_side(before, after))
        return
    result = run_in(args, args.operator_pythonpath, "")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
