"""Issue 6, point 4: high availability. Two ``crmsync run`` replicas share one control plane
through kopf peering (a KopfPeering in their namespace): only the higher-priority one
reconciles; SIGKILL it and the standby takes over within 30 s, without writing twice.

The replicas watch a namespace of their own (copies of ``e2e``'s Secrets and Connections);
the session operator watches only ``e2e``, so it never touches this test's objects.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import Stack, wait_for
from tests.e2e.syncs import create_people, manifest, marked, unique
from tests.e2e.vendors import CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e

PEERING = "crmsync"
PEOPLE = 6
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RUN_ENDED = re.compile(r"run (\S+) ended: ")


@dataclass
class Replica:
    """One ``crmsync run --namespace <ns> --priority N`` process."""

    priority: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def runs(self) -> list[str]:
        return RUN_ENDED.findall(self.output())

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def ha_namespace(stack: Stack) -> str:
    """A namespace with the peering CRDs' KopfPeering and ``e2e``'s Secrets and Connections."""
    kube = stack.kube
    kube.kubectl("apply", "-f", str(REPO / "manifests" / "peering.yaml"))
    kube.kubectl(
        "wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev",
        "crd/clusterkopfpeerings.kopf.dev", "--timeout=60s",
    )  # fmt: skip
    namespace = unique("e2e-ha")
    kube.kubectl("create", "namespace", namespace)
    objects: list[dict[str, Any]] = [
        {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": PEERING}}
    ]
    for secret in ("zoho-crm", "mailchimp"):
        body = kube.get_json("secret", secret, "-n", stack.namespace)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret},
                "data": body["data"],
            }
        )
    for connection in ("crm", "mailchimp"):
        body = kube.get_json("connection", connection, "-n", stack.namespace)
        objects.append(
            {"apiVersion": body["apiVersion"], "kind": "Connection",
             "metadata": {"name": connection}, "spec": body["spec"]}
        )  # fmt: skip
    for item in objects:
        kube.kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(item))
    return namespace


@pytest.fixture
def replicas(
    stack: Stack, ha_namespace: str, tmp_path: Path, own_processes: None
) -> Iterator[dict[str, Replica]]:
    made = {"active": Replica(200, tmp_path / "active.log"), "standby": Replica(100, tmp_path / "standby.log")}  # fmt: skip
    try:
        yield made
    finally:
        for name, replica in made.items():
            replica.stop()
            print(f"--- {name} (priority {replica.priority})\n{replica.output()[-8000:]}")


def start(replica: Replica, stack: Stack, namespace: str) -> None:
    with replica.log.open("wb") as out:
        replica.process = subprocess.Popen(
            [sys.executable, "-m", "crmsync", "run", f"--namespace={namespace}",
             f"--peering={PEERING}", f"--priority={replica.priority}",
             "--webhook-port=0", "--metrics-port=0"],
            env={**stack.kube.env, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def peers(stack: Stack, namespace: str) -> dict[str, Any]:
    body = stack.kube.get_json("kopfpeering", PEERING, "-n", namespace)
    return dict(body.get("status") or {})


def mailchimp_writes(stack: Stack) -> Counter[tuple[str, str]]:
    """Successful write requests to the Mailchimp server so far, by (method, route)."""
    rows = stack.sim.counters("mailchimp")["requests"]
    return Counter(
        {
            (r["method"], r["route"]): r["count"]
            for r in rows
            if r["method"] in WRITES and r["status"] < 400 and "/_admin" not in r["route"]
        }
    )


@pytest.mark.usefixtures("quiet_e2e_syncs")  # write counts are read from the shared server
def test_standby_takes_over_within_30s_without_duplicate_writes(
    stack: Stack, ha_namespace: str, replicas: dict[str, Replica]
) -> None:
    namespace, kube = ha_namespace, stack.kube
    active, standby = replicas["active"], replicas["standby"]
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)

    # Both replicas up, the lower-priority one paused in favour of the other.
    start(active, stack, namespace)
    wait_for(lambda: len(peers(stack, namespace)) == 1, timeout=60, what="the active keep-alive")
    start(standby, stack, namespace)
    wait_for(lambda: len(peers(stack, namespace)) == 2, timeout=60, what="both keep-alives")
    # kopf starts a replica paused (mandatory peering) and keeps the lower one so.
    time.sleep(2)
    assert "Handler 'connection_seen'" in active.output(), active.output()[-4000:]
    assert "Handler" not in standby.output(), standby.output()[-4000:]
    assert {p["priority"] for p in peers(stack, namespace).values()} == {100, 200}

    marker = unique("ha")
    people = create_people(crm, "Contacts", marker, PEOPLE)
    list_id = mailchimp.new_audience(marker)
    before = mailchimp_writes(stack)
    name = unique("ha")
    spec = {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(marker)},
        "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
        "fieldMapping": [
            {"crmField": "First_Name", "campaignField": "FNAME"},
            {"crmField": "Last_Name", "campaignField": "LNAME"},
        ],
        "trigger": {"mode": "Manual"},
    }
    kube.kubectl("apply", "-n", namespace, "-f", "-", stdin=manifest(name, spec))

    def last_run(after: str = "") -> dict[str, Any] | None:
        body = kube.get_json("contactsync", name, "-n", namespace)
        last = (body.get("status") or {}).get("lastRun") or {}
        return body if last.get("endTime") and last.get("id", "") > after else None

    body = wait_for(last_run, timeout=120, what="the initial run")
    first = body["status"]["lastRun"]
    assert first["outcome"] == "Succeeded", first
    assert first["counts"]["added"] == PEOPLE, first
    time.sleep(3)  # a second run (by either replica) would show by now
    assert active.runs() == [first["id"]], active.output()[-4000:]
    assert standby.runs() == [], standby.output()[-4000:]
    initial_writes = mailchimp_writes(stack) - before
    print(f"initial run's Mailchimp writes: {dict(initial_writes)}")
    # One run's writes: the CRMID merge field, one batch subscribe, and the sync's claim
    # tag on the new members (its segment created, then filled): two runs would double them.
    assert initial_writes == {
        ("POST", "/3.0/lists/{list_id}/merge-fields"): 1,
        ("POST", "/3.0/lists/{list_id}"): 1,
        ("POST", "/3.0/lists/{list_id}/segments"): 1,
        ("POST", "/3.0/lists/{list_id}/segments/{segment_id}"): 1,
    }, initial_writes
    assert len(kube.get_json("contactsync", name, "-n", namespace)["status"]["history"]) == 1

    # SIGKILL the active replica (no goodbye in the peering), change the CRM, ask for a run.
    killed = time.monotonic()
    active.kill()
    crm.update("Contacts", people[0].id, {"First_Name": "Failover"})
    kube.kubectl("annotate", "contactsync", name, "-n", namespace, f"crmsync.dev/sync-now={marker}")
    before = mailchimp_writes(stack)
    wait_for(
        lambda: "Resuming operations after the pause" in standby.output(),
        timeout=60,
        what="the standby to resume",
        interval=0.2,
    )
    resumed = time.monotonic() - killed
    body = wait_for(
        lambda: last_run(after=first["id"]), timeout=60, what="the run after failover", interval=0.2
    )
    failover = time.monotonic() - killed
    print(
        f"failover: standby resumed {resumed:.1f}s and finished the run {failover:.1f}s after SIGKILL"
    )
    assert failover < 30, f"the standby took {failover:.1f}s"

    second = body["status"]["lastRun"]
    assert second["outcome"] == "Succeeded", second
    assert second["trigger"] == "Manual", second
    assert second["counts"]["updated"] == 1 and second["counts"]["added"] == 0, second
    assert standby.runs() == [second["id"]], standby.output()[-4000:]
    time.sleep(3)
    status = kube.get_json("contactsync", name, "-n", namespace)["status"]
    assert [h["id"] for h in status["history"]] == [second["id"], first["id"]]
    failover_writes = mailchimp_writes(stack) - before
    print(f"failover run's Mailchimp writes: {dict(failover_writes)}")
    # One run's update of an existing member: the create-only batch (refused), then the
    # update-only batch for it (crmsync/providers/mailchimp.py). Two runs would make four.
    assert failover_writes == {("POST", "/3.0/lists/{list_id}"): 2}, failover_writes

    # The audience: every person once, with the CRM's values.
    members = mailchimp.members(list_id)
    assert set(members) == {p.email.lower() for p in people}
    assert members[people[0].email.lower()]["merge_fields"]["FNAME"] == "Failover"
    for person in people[1:]:
        assert members[person.email.lower()]["merge_fields"]["FNAME"] == person.values["First_Name"]
    # The dead replica's keep-alive is cleaned out of the peering.
    wait_for(lambda: len(peers(stack, namespace)) == 1, timeout=30, what="the dead peer cleaned")
