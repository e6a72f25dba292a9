"""B5: SIGKILL the operator in the middle of an initial load, start it again, and end with
the same audience as an uninterrupted run: nothing missing, nothing twice.

The killed operators run in a namespace of their own (``crmsync run -n <ns>``); the
session operator watches only ``e2e``, so no sync is ever reconciled by two processes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack, condition, wait_for
from tests.e2e.syncs import Syncs, create_people, email_of, manifest, marked, unique
from tests.e2e.vendors import CrmReader, MailchimpReader

pytestmark = pytest.mark.e2e

RECORDS = 5000
DUPLICATES = 40
BATCH = 100
LATENCY_MS = 300


@dataclass
class KillableOperator:
    """``crmsync run`` for one namespace, which a test may SIGKILL and start again."""

    env: dict[str, str]
    namespace: str
    logs: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    outputs: list[Path] = field(default_factory=list)

    def start(self) -> None:
        self.starts += 1
        log = self.logs / f"operator-{self.starts}.log"
        self.outputs.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "crmsync", "run", "--standalone",
                 f"--namespace={self.namespace}", "--webhook-port=0", "--metrics-port=0"],
                env={**self.env, "PYTHONUNBUFFERED": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


@pytest.fixture
def crash_namespace(stack: Stack) -> str:
    """A namespace with the same Secrets and Connections as ``e2e``."""
    namespace = unique("e2e-crash")
    kube = stack.kube
    kube.kubectl("create", "namespace", namespace)
    for secret in ("zoho-crm", "mailchimp"):
        body = kube.get_json("secret", secret, "-n", stack.namespace)
        kube.kubectl(
            "apply", "-n", namespace, "-f", "-",
            stdin=manifest_of_secret(secret, body["data"]),
        )  # fmt: skip
    for connection in ("crm", "mailchimp"):
        body = kube.get_json("connection", connection, "-n", stack.namespace)
        kube.kubectl(
            "apply", "-n", namespace, "-f", "-",
            stdin=_json({"apiVersion": body["apiVersion"], "kind": "Connection",
                         "metadata": {"name": connection}, "spec": body["spec"]}),
        )  # fmt: skip
    return namespace


def manifest_of_secret(name: str, data: dict[str, str]) -> str:
    return _json({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": data})


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


@pytest.fixture
def killable(
    stack: Stack, crash_namespace: str, tmp_path: Path, own_processes: None
) -> Iterator[KillableOperator]:
    operator = KillableOperator(stack.kube.env, crash_namespace, tmp_path)
    try:
        yield operator
    finally:
        operator.stop()
        for log in operator.outputs:
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-6000:]}")


def _spec(list_id: str, marker: str) -> dict[str, Any]:
    return {
        "crm": {"connectionRef": {"name": "crm"}, "module": "Contacts", "criteria": marked(marker)},
        "target": {"connectionRef": {"name": "mailchimp"}, "listId": list_id, "tags": ["crm"]},
        "fieldMapping": [
            {"crmField": "First_Name", "campaignField": "FNAME"},
            {"crmField": "Last_Name", "campaignField": "LNAME"},
        ],
        "trigger": {"mode": "Instant", "pollInterval": "1h"},
        "batchSize": BATCH,
    }


def _view(members: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    return {
        email: (
            m["status"],
            tuple(sorted(m["merge_fields"].items())),
            # Each sync's claim tag names the sync: compare the declared tags.
            tuple(sorted(t["name"] for t in m["tags"] if not t["name"].startswith("crmsync:"))),
        )
        for email, m in members.items()
    }


def _member_count(mailchimp: MailchimpReader, list_id: str) -> int:
    body = mailchimp.http.get(
        f"/lists/{list_id}/members", params={"count": 1, "fields": "total_items"}
    ).json()
    return int(body["total_items"])


def test_sigkill_during_an_initial_load_resumes_to_the_same_audience(
    stack: Stack, syncs: Syncs, crash_namespace: str, killable: KillableOperator
) -> None:
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker = unique("crash")
    people = create_people(crm, "Contacts", marker, RECORDS)
    # Duplicates (the first record wins, case does not matter): the claims must come out
    # the same after a resume as in one pass.
    create_people(
        crm,
        "Contacts",
        marker,
        DUPLICATES,
        extra=lambda i: {"Email": email_of(marker, i * 7).upper(), "Last_Name": f"Duplicate{i}"},
    )

    # The reference: an uninterrupted run by the session operator.
    reference_list = mailchimp.new_audience(f"{marker}-reference")
    reference = unique("reference")
    syncs.apply(reference, _spec(reference_list, marker))
    reference_body = syncs.wait_run(reference, timeout=300)
    assert reference_body["status"]["lastRun"]["outcome"] == "Succeeded"
    expected = _view(mailchimp.members(reference_list))
    assert len(expected) == RECORDS

    list_id = mailchimp.new_audience(f"{marker}-crash")
    stack.sim.set_faults("mailchimp", latency_ms=LATENCY_MS)
    try:
        killable.start()
        name = unique("crash")
        stack.kube.kubectl(
            "apply", "-n", crash_namespace, "-f", "-", stdin=manifest(name, _spec(list_id, marker))
        )
        for fraction in (0.2, 0.6):
            wait_for(
                lambda f=fraction: _member_count(mailchimp, list_id) >= f * RECORDS,
                timeout=300,
                what=f"{fraction:.0%} of the members",
                interval=0.2,
            )
            killable.kill()
            assert _member_count(mailchimp, list_id) < RECORDS
            killable.start()

        def finished() -> dict[str, Any] | None:
            body = stack.kube.get_json("contactsync", name, "-n", crash_namespace)
            last = (body.get("status") or {}).get("lastRun") or {}
            return body if last.get("endTime") and last.get("outcome") != "Interrupted" else None

        body = wait_for(finished, timeout=600, what="the resumed run to finish")
    finally:
        stack.sim.set_faults("mailchimp")

    status = body["status"]
    assert status["lastRun"]["outcome"] == "Succeeded", status["lastRun"]
    assert status["lastRun"]["trigger"] == "Resumed"
    assert condition(body, "Synced") == "True"
    interrupted = [h for h in status["history"] if h["outcome"] == "Interrupted"]
    assert len(interrupted) == 2, status["history"]
    assert "resume" not in status["checkpoint"]

    # The same audience as the uninterrupted run: every member, every value, once.
    members = mailchimp.members(list_id)
    assert _view(members) == expected
    crm_ids = [m["merge_fields"]["CRMID"] for m in members.values()]
    assert len(crm_ids) == len(set(crm_ids)) == RECORDS
    assert _member_count(mailchimp, list_id) == RECORDS
    assert status["members"] == RECORDS
    assert {p.email.lower() for p in people} == set(members)

    # Counts over the interrupted runs and the resumed one equal the reference's: each
    # record counted once, as what was done to it (a chunk written just before a kill
    # is still an add, not "unchanged" when the resumed run finds it).
    counts, ref = status["counts"], reference_body["status"]["counts"]
    keys = ("total", "added", "updated", "unchanged", "skippedDuplicate", "skippedIgnored")
    assert {k: counts[k] for k in keys} == {k: ref[k] for k in keys}, (counts, ref)
    assert counts["skippedDuplicate"] == DUPLICATES
    assert counts["added"] == RECORDS
    assert counts["failed"] == ref["failed"] == 0


KILLS = 20


@pytest.mark.timeout(600)  # 20 restarts and a 15,000-record load: more than the default 300 s
def test_counts_stay_exact_through_twenty_kills_at_random_points(
    stack: Stack, crash_namespace: str, killable: KillableOperator
) -> None:
    """Issue 12.3: whatever the kills hit (start-up, a vendor batch, a status write), the
    counts since creation equal what a careful person counts from the two systems: each
    record once, every member added once, nothing updated that did not change."""
    crm, mailchimp = CrmReader(stack.sim), MailchimpReader(stack.sim)
    marker = unique("kills")
    records = 15_000  # enough work for 20 kills however fast batches go out together
    create_people(crm, "Contacts", marker, records)
    create_people(
        crm,
        "Contacts",
        marker,
        DUPLICATES,
        extra=lambda i: {"Email": email_of(marker, i * 7).upper(), "Last_Name": f"Duplicate{i}"},
    )
    list_id = mailchimp.new_audience(f"{marker}-kills")
    seed = int.from_bytes(os.urandom(4), "big")
    chance = random.Random(seed)
    print(f"kill points drawn with seed {seed}")
    name = unique("kills")
    stack.sim.set_faults("mailchimp", latency_ms=LATENCY_MS)
    try:
        killable.start()
        stack.kube.kubectl(
            "apply", "-n", crash_namespace, "-f", "-", stdin=manifest(name, _spec(list_id, marker))
        )
        written = 0
        for kill in range(KILLS):
            if kill % 4 == 0:
                time.sleep(chance.uniform(0.1, 2.0))  # during start-up
            else:
                # Once this operator has written something: mid-batch, between a batch
                # and its status write, or during one.
                wait_for(
                    lambda seen=written: _member_count(mailchimp, list_id) > seen,
                    timeout=120,
                    what="progress after a restart",
                    interval=0.1,
                )
                time.sleep(chance.uniform(0.0, 0.6))
            written = _member_count(mailchimp, list_id)
            assert written < records, f"the load finished after {kill} kills"
            killable.kill()
            killable.start()

        def finished() -> dict[str, Any] | None:
            body = stack.kube.get_json("contactsync", name, "-n", crash_namespace)
            last = (body.get("status") or {}).get("lastRun") or {}
            return body if last.get("endTime") and last.get("outcome") != "Interrupted" else None

        body = wait_for(finished, timeout=600, what="the last run to finish")
    finally:
        stack.sim.set_faults("mailchimp")

    assert _member_count(mailchimp, list_id) == records
    counts = body["status"]["counts"]
    print("counts", counts)
    expected = {
        "total": records + DUPLICATES,
        "added": records,
        "updated": 0,
        "unchanged": 0,
        "skippedDuplicate": DUPLICATES,
        "failed": 0,
    }
    assert {k: counts.get(k, 0) for k in expected} == expected, (seed, body["status"]["history"])
