from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from crmsync.runtime.indexcodec import SHARD_BYTES_ENV
from crmsync_testbed.controlplane import ControlPlane
from crmsync_testbed.controlplane.binaries import find_binaries
from crmsync_testbed.controlplane.process import free_port
from tests.conftest import REPO
from tests.kube import Kube
from tests.simfixture import SimServers, run_sim

T = TypeVar("T")


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    """A real kube-apiserver + etcd for the session, with crds/ installed."""
    binaries = find_binaries()
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"))
    plane.start(binaries)
    try:
        k = Kube(plane, binaries)
        k.apply(REPO / "crds")
        k.kubectl(
            "wait", "--for=condition=Established", "crd", "-l", "!x", "--all", "--timeout=60s"
        )
        yield k
    finally:
        plane.stop()


@dataclass
class OperatorProcess:
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int = 0
    """Where its Prometheus ``/metrics`` listens (on 127.0.0.1)."""

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture(scope="session")
def e2e_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServers]:
    """Vendor servers of the end-to-end tests' own (a CRM no other test seeds)."""
    with run_sim(tmp_path_factory.mktemp("e2e-sim")) as servers:
        yield servers


ZOHO_VENDORS = ("zoho_crm", "zoho_campaigns")
INDEX_SHARD_BYTES = "300"
"""The session operator's Zoho Campaigns record index shards are this small, so every list
of a few dozen members spreads over several ConfigMaps (issue 15.1)."""
PROCESS_TOKEN_LIMIT = 100


@pytest.fixture
def own_processes(e2e_sim: SimServers) -> Iterator[None]:
    """For a test that starts operator or CLI processes of its own (killed and restarted
    operators, HA replicas, ``crmsync plan``/``send-mail``). Each process mints its own Zoho
    token per Connection — one operator shares one per Connection, but a fresh process
    cannot inherit it — so the starts alone would spend Zoho's 10 new tokens per refresh
    token per 10 minutes. The e2e servers allow ``PROCESS_TOKEN_LIMIT`` while the test runs,
    then Zoho's 10 again with an empty window."""
    for vendor in ZOHO_VENDORS:
        e2e_sim.set_token_limit(vendor, PROCESS_TOKEN_LIMIT)
    yield
    for vendor in ZOHO_VENDORS:
        e2e_sim.set_token_limit(vendor, 10)
        e2e_sim.admin(vendor, "POST", "oauth_limits/reset")


@pytest.fixture(scope="session")
def operator(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """``crmsync run`` as a real process against the local control plane."""
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    metrics_port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "crmsync",
                "run",
                "--standalone",
                # Only namespace e2e: tests that kill and restart operators run their own,
                # each in its own namespace, so no sync is reconciled by two processes.
                "--namespace=e2e",
                "--webhook-port=0",
                f"--metrics-port={metrics_port}",
                "--metrics-address=127.0.0.1",
            ],
            env={**kube.env, "PYTHONUNBUFFERED": "1", SHARD_BYTES_ENV: INDEX_SHARD_BYTES},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = OperatorProcess(process, log, metrics_port)
    try:
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(running.output()[-20000:])  # shown by pytest when a test failed


def wait_for(
    check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.5
) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


@dataclass
class Stack:
    """Namespace ``e2e`` with Secrets and Ready Connections to the e2e vendor servers."""

    kube: Kube
    sim: SimServers
    namespace: str = "e2e"

    def apply(self, manifest: str) -> None:
        self.kube.kubectl("apply", "-n", self.namespace, "-f", "-", stdin=manifest)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        return dict(self.kube.get_json(kind, name, "-n", self.namespace))

    def wait_run(self, name: str, *, after: str = "", timeout: float = 300) -> dict[str, Any]:
        """The ContactSync once a run that started after ``after`` (a run id) has ended."""

        def finished() -> dict[str, Any] | None:
            body = self.get("contactsync", name)
            last = (body.get("status") or {}).get("lastRun") or {}
            if last.get("endTime") and last.get("id", "") > after:
                return body
            return None

        return wait_for(finished, timeout=timeout, what=f"a run of {name}")


@pytest.fixture(scope="session")
def stack(kube: Kube, e2e_sim: SimServers, operator: OperatorProcess) -> Stack:
    crm, campaigns, mailchimp = (
        e2e_sim.info[v] for v in ("zoho_crm", "zoho_campaigns", "mailchimp")
    )
    kube.kubectl("create", "namespace", "e2e")
    secrets = {
        "zoho-crm": {
            "clientId": crm["client_id"],
            "clientSecret": crm["client_secret"],
            "refreshToken": crm["refresh_token"],
        },
        "zoho-campaigns": {
            "clientId": campaigns["client_id"],
            "clientSecret": campaigns["client_secret"],
            "refreshToken": campaigns["refresh_token"],
        },
        "mailchimp": {"apiKey": mailchimp["api_key"]},
    }
    for name, data in secrets.items():
        kube.kubectl(
            "create",
            "secret",
            "generic",
            name,
            "-n",
            "e2e",
            *[f"--from-literal={k}={v}" for k, v in data.items()],
        )
    s = Stack(kube, e2e_sim)
    s.apply(f"""
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: crm}}
spec: {{provider: zoho-crm, credentialsSecretRef: {{name: zoho-crm}}, apiBaseUrl: "{crm["base_url"]}", accountsUrl: "{crm["base_url"]}"}}
---
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: campaigns}}
spec: {{provider: zoho-campaigns, credentialsSecretRef: {{name: zoho-campaigns}}, apiBaseUrl: "{campaigns["base_url"]}", accountsUrl: "{campaigns["base_url"]}"}}
---
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: mailchimp}}
spec: {{provider: mailchimp, credentialsSecretRef: {{name: mailchimp}}, apiBaseUrl: "{mailchimp["base_url"]}"}}
""")
    for name in ("crm", "campaigns", "mailchimp"):
        wait_for(
            lambda name=name: condition(s.get("connection", name), "Ready") == "True",
            timeout=60,
            what=f"Connection {name} Ready",
        )
    _STACKS.append(s)
    return s


def crm_connection(stack: Stack, name: str) -> None:
    """Another Connection to the e2e CRM (same Secret), Ready."""
    info = stack.sim.info["zoho_crm"]
    stack.apply(f"""
apiVersion: crmsync.dev/v1alpha1
kind: Connection
metadata: {{name: {name}}}
spec: {{provider: zoho-crm, credentialsSecretRef: {{name: zoho-crm}}, apiBaseUrl: "{info["base_url"]}", accountsUrl: "{info["base_url"]}"}}
""")
    wait_for(
        lambda: condition(stack.get("connection", name), "Ready") == "True",
        timeout=60,
        what=f"Connection {name} Ready",
    )


@pytest.fixture
def own_crm_connection(stack: Stack) -> Iterator[str]:
    """A CRM Connection of the test's own: the notification channels on it (one per
    module, 14.3) are this test's only."""
    name = f"crm-{uuid.uuid4().hex[:8]}"
    crm_connection(stack, name)
    yield name
    stack.kube.kubectl("delete", "connection", name, "-n", stack.namespace, "--wait=false")


WORKLOAD_KINDS = ("contactsyncs", "emailcampaigns", "mailboxsyncs")
KEPT_FOR_LATER_MODULES = frozenset({"contactsync.crmsync.dev/initial-load"})
"""test_contactsync_mailchimp's large initial load, whose skipped records test_plan_cli
exports (loading them again would take minutes)."""
_STACKS: list[Stack] = []
"""The session's stack once a test asked for it (module clean-up acts only then)."""


def _workloads(stack: Stack) -> set[str]:
    listed = stack.kube.kubectl(
        "get", ",".join(WORKLOAD_KINDS), "-n", stack.namespace, "-o", "name"
    )  # fmt: skip
    return set(listed.stdout.split())


@pytest.fixture(scope="module", autouse=True)
def leave_no_workloads_behind() -> Iterator[None]:
    """Deletes, at the end of each module, the syncs and campaigns it left in namespace
    ``e2e``: left running (polls every 30 s, notifications, Zoho Campaigns' paced calls),
    every earlier module's syncs would share the Connections' budgets with later tests and
    slow them more the longer the session runs."""
    before = _workloads(_STACKS[0]) if _STACKS else set()
    yield
    if not _STACKS:
        return
    stack = _STACKS[0]
    left = sorted(_workloads(stack) - before - KEPT_FOR_LATER_MODULES)
    if left:
        # Waited for (their finalizers drop claims and channels): the next module's CRM
        # and audience writes are then its own.
        stack.kube.kubectl("delete", *left, "-n", stack.namespace, "--timeout=100s", check=False)


def condition(body: dict[str, Any], type_: str) -> str | None:
    for c in (body.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return str(c["status"])
    return None


@pytest.fixture
def syncs(stack: Stack) -> Iterator[Any]:
    """ContactSyncs applied by one test (``tests.e2e.syncs.Syncs``), deleted at its end."""
    from tests.e2e.syncs import syncs_for

    yield from syncs_for(stack)


# --- mailbox capture (issue 8): a real IMAP server and an SMTP sink --------------------


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Any]:
    """Dovecot on 127.0.0.1 (plain IMAP, ``ssl = no``), its own config and Maildirs."""
    import shutil
    import tempfile

    from tests.e2e.mailserver import Dovecot

    root = Path(tempfile.mkdtemp(prefix="crmsync-dovecot-"))
    server = Dovecot(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        print(server.log()[-3000:])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[Any]:
    """aiosmtpd on 127.0.0.1, keeping what it receives."""
    from tests.e2e.mailserver import SmtpSink

    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def quiet_e2e_syncs(stack: Stack) -> Iterator[None]:
    """Suspend the e2e namespace's syncs, so every vendor write is the test's own. A sync
    an earlier test deleted (``--wait=false``) may vanish meanwhile: it writes nothing more."""
    syncs: list[str] = []
    for sync in stack.kube.kubectl("get", "contactsync", "-n", "e2e", "-o", "name").stdout.split():
        patched = stack.kube.kubectl(
            "patch", sync, "-n", "e2e", "--type=merge", "-p", '{"spec":{"suspend":true}}',
            check=False,
        )  # fmt: skip
        if patched.returncode == 0:
            syncs.append(sync)
        elif "NotFound" not in patched.stderr:
            raise AssertionError(f"suspending {sync} failed:\n{patched.stderr}")

    def quiet(name: str) -> bool:
        try:
            body = stack.get("contactsync", name)
        except AssertionError:  # deleted meanwhile (kubectl: NotFound)
            return True
        generation = body["metadata"]["generation"]
        for c in (body.get("status") or {}).get("conditions") or []:
            # Only a condition computed for this generation counts: a stale Suspended=True
            # from an earlier suspension may sit beside a run that is still writing.
            if c.get("observedGeneration") != generation:
                continue
            if (c["type"], c["status"]) in (("Suspended", "True"), ("Ready", "False")):
                return True
        return False

    for sync in syncs:
        name = sync.split("/")[1]
        wait_for(lambda name=name: quiet(name), timeout=120, what=f"{sync} suspended")
    yield
    for sync in syncs:
        stack.kube.kubectl(
            "patch", sync, "-n", "e2e", "--type=merge", "-p", '{"spec":{"suspend":false}}',
            check=False,
        )  # fmt: skip
