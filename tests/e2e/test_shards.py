"""Issue 15, point 2: scale-out by shards. Three ``crmsync run`` processes share one control
plane — the default instance (objects without ``crmsync.dev/shard``) and ``--shard a`` and
``--shard b`` — each peering through its own peering object, so none pauses another. Every
sync is handled by exactly one of them; relabelling a sync in the middle of its run moves
it to the other shard without a second run at the same time: the old shard's run is
cancelled and closed as Interrupted, the new shard waits for that and then resumes it,
once, from its checkpoint — every member written once, every record counted once.

The instances watch a namespace of their own (copies of ``e2e``'s Secrets and
Connections); the session operator watches only ``e2e``.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import Stack, condition, wait_for
from tests.e2e.syncs import create_people, marked, unique
from tests.e2e.vendors import CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e

SHARD_LABEL = "crmsync.dev/shard"
PEOPLE = 5
MOVING = 400
BATCH = 10
LATENCY_MS = 250
RUN_ENDED = re.compile(r"\[([^/\]\s]+)/([^\]\s]+)\] run (\S+) ended: ")


@dataclass
class Instance:
    """``crmsync run --namespace <ns> [--shard NAME]`` (peering on, per shard)."""

    shard: str
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def runs(self, name: str) -> list[str]:
        """The ids of the runs of ContactSync ``name`` this instance ended."""
        return [run for _, sync, run in RUN_ENDED.findall(self.output()) if sync == name]

    def start(self, stack: Stack, namespace: str) -> None:
        shard = [f"--shard={self.shard}"] if self.shard else []
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crmsync", "run", f"--namespace={namespace}", *shard,
                 "--webhook-port=0", "--metrics-port=0"],
                env={**stack.kube.env, "PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def shard_namespace(stack: Stack) -> str:
    """A namespace with ``e2e``'s Secrets and (unlabelled) Connections; the peering CRDs."""
    kube = stack.kube
    kube.kubectl("apply", "-f", str(REPO / "manifests" / "peering.yaml"))
    kube.kubectl(
        "wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev",
        "crd/clusterkopfpeerings.kopf.dev", "--timeout=60s",
    )  # fmt: skip
    namespace = unique("e2e-shards")
    kube.kubectl("create", "namespace", namespace)
    objects: list[dict[str, Any]] = []
    for secret in ("zoho-crm", "mailchimp"):
        body = kube.get_json("secret", secret, "-n", stack.namespace)
        objects.append(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret},
             "data": body["data"]}
        )  # fmt: skip
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
def instances(
    stack: Stack, shard_namespace: str, tmp_path: Path, own_processes: None
) -> Iterator[dict[str, Instance]]:
    made = {shard: Instance(shard, tmp_path / f"{shard or 'default'}.log") for shard in ("", "a", "b")}  # fmt: skip
    try:
        yield made
    finally:
        for instance in made.values():
            instance.stop()
        for shard, instance in made.items():
            print(f"--- {shard or 'default'}\n{instance.output()[-8000:]}")


def _sync(name: str, shard: str, marker: str, list_id: str, batch: int = 100) -> str:
    labels = {SHARD_LABEL: shard} if shard else {}
    return json.dumps(
        {
            "apiVersion": "crmsync.dev/v1alpha1",
            "kind": "ContactSync",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts",
                        "criteria": marked(marker)},
                "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id},
                "fieldMapping": [
                    {"crmField": "First_Name", "campaignField": "FNAME"},
                    {"crmField": "Last_Name", "campaignField": "LNAME"},
                ],
                "trigger": {"mode": "Manual"},
                "batchSize": batch,
            },
        }
    )  # fmt: skip


def _member_count(mailchimp: MailchimpReader, list_id: str) -> int:
    body = mailchimp.http.get(
        f"/lists/{list_id}/members", params={"count": 1, "fields": "total_items"}
    ).json()
    return int(body["total_items"])


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.timeout(600)
def test_each_sync_runs_in_one_shard_and_moves_without_a_double_run(
    stack: Stack, shard_namespace: str, instances: dict[str, Instance]
) -> None:
    namespace, kube = shard_namespace, stack.kube
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)

    def get(name: str) -> dict[str, Any]:
        return dict(kube.get_json("contactsync", name, "-n", namespace))

    def ended(name: str, after: str = "") -> dict[str, Any] | None:
        body = get(name)
        last = (body.get("status") or {}).get("lastRun") or {}
        return body if last.get("endTime") and last.get("id", "") > after else None

    for instance in instances.values():
        instance.start(stack, namespace)

    # One peering object per shard, one live peer in each: no shard pauses another.
    def peers(peering: str) -> int:
        found = kube.kubectl("get", "kopfpeering", peering, "-n", namespace, "-o", "json",
                             check=False)  # fmt: skip
        return len(json.loads(found.stdout).get("status") or {}) if found.returncode == 0 else 0

    for peering in ("crmsync", "crmsync-a", "crmsync-b"):
        wait_for(lambda p=peering: peers(p) == 1, timeout=60, what=f"the keep-alive in {peering}")
    # The Connections carry no label: the default instance verifies them.
    for connection in ("crm", "mailchimp"):
        wait_for(
            lambda c=connection: (
                condition(kube.get_json("connection", c, "-n", namespace), "Ready") == "True"
            ),
            timeout=60,
            what=f"Connection {connection} Ready",
        )

    # Four syncs across the three instances: each runs once, by its shard's instance only.
    marker = unique("shards")
    create_people(crm, "Contacts", marker, PEOPLE)
    placement = {unique("s-default"): "", unique("s-a1"): "a", unique("s-a2"): "a",
                 unique("s-b"): "b"}  # fmt: skip
    for name, shard in placement.items():
        list_id = mailchimp.new_audience(name)
        kube.kubectl("apply", "-n", namespace, "-f", "-", stdin=_sync(name, shard, marker, list_id))
    for name, shard in placement.items():
        body = wait_for(lambda n=name: ended(n), timeout=120, what=f"the initial run of {name}")
        status = body["status"]
        assert status["lastRun"]["outcome"] == "Succeeded", status["lastRun"]
        assert status["lastRun"]["counts"]["added"] == PEOPLE, status["lastRun"]
        assert status["lastRun"]["shard"] == shard, status["lastRun"]
        assert status.get("shard", "") == shard, status
    time.sleep(3)  # a second run (by any instance) would show by now
    for name, shard in placement.items():
        status = get(name)["status"]
        assert len(status["history"]) == 1, status["history"]
        for instance in instances.values():
            expected = [status["lastRun"]["id"]] if instance.shard == shard else []
            assert instance.runs(name) == expected, (
                name,
                instance.shard,
                instance.output()[-4000:],
            )
            # The other instances never even log about it.
            if instance.shard != shard:
                assert f"[{namespace}/{name}]" not in instance.output(), (name, instance.shard)
        finalizers = get(name)["metadata"].get("finalizers") or []
        assert finalizers == [
            f"crmsync.dev/finalizer-{shard}" if shard else "crmsync.dev/finalizer"
        ]

    # A sync in shard a with a long initial run (a slow Mailchimp), moved to shard b in the
    # middle of it.
    moving_marker = unique("moving")
    people = create_people(crm, "Contacts", moving_marker, MOVING)
    list_id = mailchimp.new_audience(moving_marker)
    name = unique("s-move")
    stack.sim.set_faults("mailchimp", latency_ms=LATENCY_MS)
    try:
        kube.kubectl(
            "apply", "-n", namespace, "-f", "-",
            stdin=_sync(name, "a", moving_marker, list_id, batch=BATCH),
        )  # fmt: skip
        wait_for(
            lambda: _member_count(mailchimp, list_id) >= 5 * BATCH,
            timeout=120,
            what="the run in shard a under way",
            interval=0.2,
        )
        running = get(name)["status"]["lastRun"]
        assert "endTime" not in running and running["shard"] == "a", running
        kube.kubectl(
            "label", "contactsync", name, "-n", namespace, f"{SHARD_LABEL}=b", "--overwrite"
        )
        moved_at = _member_count(mailchimp, list_id)
        # kopf cancels shard a's daemon at once (the object left its filters); the
        # cancelled daemon closes its run as Interrupted.
        first = wait_for(lambda: ended(name), timeout=120, what="shard a's run to be closed")
        first_run = first["status"]["lastRun"]
        closed_at = _member_count(mailchimp, list_id)
    finally:
        stack.sim.set_faults("mailchimp")
    print(f"moved at {moved_at} of {MOVING} members, closed at {closed_at}: {first_run}")
    assert closed_at < MOVING, "shard a's run went on to the end"
    assert first_run["outcome"] == "Interrupted" and first_run["shard"] == "a", first_run
    assert first_run["message"].startswith("the sync moved to shard 'b'"), first_run
    a, b = instances["a"], instances["b"]
    assert f"run {first_run['id']} stopped: the sync moved to shard 'b'" in a.output()
    # Shard b took over once shard a had closed its run: it waits for a run still marked
    # Running (when it sees the move first), never starting one beside it.
    assert "taking over from shard 'a'" in b.output(), b.output()[-4000:]
    if f"waiting for run {first_run['id']}" in b.output():
        assert f"run {first_run['id']} ended (Interrupted): taking over" in b.output()
    body = wait_for(lambda: ended(name, after=first_run["id"]), timeout=180, what="shard b's run")
    second_run = body["status"]["lastRun"]
    assert second_run["outcome"] == "Succeeded", second_run
    # Resumed from shard a's checkpoint, or a full run when shard a was cut off before
    # its first checkpoint: either way counted exactly (below).
    assert second_run["shard"] == "b", second_run
    assert second_run["trigger"] in ("Resumed", "SpecChange"), second_run
    time.sleep(3)  # a further run (by either shard) would show by now
    status = get(name)["status"]
    assert [(h["id"], h["shard"]) for h in status["history"]] == [
        (second_run["id"], "b"),
        (first_run["id"], "a"),
    ], status["history"]
    # No overlap: shard b's run started after shard a's was closed (by shard a).
    assert _time(second_run["startTime"]) >= _time(first_run["endTime"]), status["history"]
    assert a.runs(name) == [], a.output()[-4000:]  # cut off: it never ended on its own
    assert b.runs(name) == [second_run["id"]], b.output()[-4000:]
    assert instances[""].runs(name) == []
    assert f"[{namespace}/{name}]" not in instances[""].output()
    # Nothing twice: every record added once over the two runs, each member once.
    assert status["counts"]["added"] == MOVING, status["counts"]
    assert status["counts"]["updated"] == 0, status["counts"]
    members = mailchimp.members(list_id)
    assert {p.email.lower() for p in people} == set(members)
    crm_ids = [m["merge_fields"]["CRMID"] for m in members.values()]
    assert len(crm_ids) == len(set(crm_ids)) == MOVING
    assert "resume" not in status["checkpoint"]
    # Shard a took its finalizer off, shard b put its own on (no tug of war).
    assert get(name)["metadata"].get("finalizers") == ["crmsync.dev/finalizer-b"]
    assert status["shard"] == "b"
    # The other syncs stayed where they were, untouched by the move.
    for other in placement:
        assert len(get(other)["status"]["history"]) == 1, other
