"""The demo's apply step against real servers (issue 13.2): every example does its job.

What ``hack/demo.sh`` does after starting the servers, here against servers of the test's
own — seeded vendor servers, the tests' Dovecot, an operator for one namespace: the
mailbox owner made a CRM user and mail delivered (``crmsync sim demo-mail``), the
Secrets (``crmsync sim demo-secrets``), ``examples/*.yaml`` applied with the demo's fixed
ports and namespace swapped for the test's. Then no object reads failed: every Connection
verified, every sync Synced, the mail captured, the campaign drafted.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from crmsync_testbed.sim import demo
from tests.conftest import REPO
from tests.e2e.conftest import condition, wait_for
from tests.e2e.mailserver import Dovecot
from tests.kube import Kube
from tests.simfixture import SimServers, run_sim

pytestmark = pytest.mark.e2e

NAMESPACE = "demo-e2e"
MAILBOX_USER, MAILBOX_PASSWORD = "ana.garcia@example.com", "demo-password"
DEMO_SH = (REPO / "hack" / "demo.sh").read_text()


@pytest.fixture(scope="module")
def demo_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServers]:
    """Vendor servers seeded as the demo seeds them, smaller (the demo: 5,000 + 1,000)."""
    data_dir = tmp_path_factory.mktemp("demo-sim")
    subprocess.run(
        [sys.executable, "-m", "crmsync", "sim", "seed", "--data-dir", str(data_dir),
         "--contacts", "300", "--leads", "100"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    with run_sim(data_dir) as servers:
        yield servers


def render_examples(info: dict[str, Any], imap_port: int) -> str:
    """examples/*.yaml, with the demo's ports (hack/demo.sh) and namespace made the test's."""
    text = "\n---\n".join(p.read_text() for p in sorted((REPO / "examples").glob("*.yaml")))
    swaps = {
        "http://127.0.0.1:18080": info["zoho_crm"]["base_url"],
        "http://127.0.0.1:18081": info["zoho_campaigns"]["base_url"],
        "http://127.0.0.1:18082": info["mailchimp"]["base_url"],
        "port: 18143": f"port: {imap_port}",
        "crmsync-demo": NAMESPACE,
    }
    for old, new in swaps.items():
        port = old.rsplit(":", 1)[-1].strip()
        assert port in DEMO_SH or old == "crmsync-demo", f"hack/demo.sh no longer uses {port}"
        assert old in text, f"examples/ no longer name {old}"
        text = text.replace(old, new)
    assert "127.0.0.1:18" not in text, "an example names a demo port this test does not swap"
    return text


@pytest.fixture(scope="module")
def demo_applied(
    kube: Kube, demo_sim: SimServers, dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    dovecot.add_user(MAILBOX_USER, MAILBOX_PASSWORD)
    mail = demo.prepare(
        demo_sim.info["zoho_crm"],
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        user=MAILBOX_USER,
        password=MAILBOX_PASSWORD,
    )
    manifest = render_examples(demo_sim.info, dovecot.port)
    kube.kubectl("create", "namespace", NAMESPACE)
    secrets = demo.secrets(demo_sim.info, NAMESPACE, MAILBOX_USER, MAILBOX_PASSWORD)
    kube.kubectl("apply", "-f", "-", stdin=json.dumps(secrets))
    kube.kubectl("apply", "-f", "-", stdin=manifest)
    log = tmp_path_factory.mktemp("demo-operator") / "operator.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "crmsync", "run", "--standalone", f"--namespace={NAMESPACE}",
             "--webhook-port=0", "--metrics-port=0"],
            env={**kube.env, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield {"mail": mail, "objects": [d for d in yaml.safe_load_all(manifest) if d]}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(log.read_text(errors="replace")[-20000:])
        kube.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def _get(kube: Kube, kind: str, name: str) -> dict[str, Any]:
    return dict(kube.get_json(kind, name, "-n", NAMESPACE))


def _failures(item: dict[str, Any]) -> list[str]:
    """What in one object reads as failed: Ready or Synced not True, Suspended not False."""
    kind, name = item["kind"], item["metadata"]["name"]
    status = item.get("status") or {}
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    wanted = {"Ready": "True", "Synced": "True", "Suspended": "False"}
    problems = [
        f"{kind}/{name} {t}={c['status']} {c.get('reason')}: {c.get('message')}"
        for t, c in conditions.items()
        if t in wanted and c["status"] != wanted[t]
    ]
    needs_ready = kind in ("Connection", "ContactSync", "MailboxSync", "EmailCampaign")
    if needs_ready and "Ready" not in conditions:
        problems.append(f"{kind}/{name} has no Ready condition yet")
    if kind in ("ContactSync", "MailboxSync") and "Synced" not in conditions:
        problems.append(f"{kind}/{name} has not synced yet")
    if kind == "EmailCampaign" and status.get("state") != "Draft":
        problems.append(f"{kind}/{name} is {status.get('state')!r}, not Draft")
    return problems


@pytest.mark.timeout(600)
def test_after_the_demo_apply_no_object_reads_failed(
    kube: Kube, demo_applied: dict[str, Any]
) -> None:
    def all_done() -> list[dict[str, Any]] | None:
        items = list(kube.get_json("crmsync", "-n", NAMESPACE)["items"])
        if all(not _failures(i) for i in items):
            return items
        return None

    try:
        items = wait_for(all_done, timeout=480, what="every example done", interval=2)
    except AssertionError:
        items = kube.get_json("crmsync", "-n", NAMESPACE)["items"]
        problems = [p for i in items for p in _failures(i)]
        raise AssertionError("still failed or unfinished:\n" + "\n".join(problems)) from None
    listed = kube.kubectl("get", "crmsync", "-n", NAMESPACE).stdout
    print(listed)
    assert "False" not in listed and "Unknown" not in listed, listed

    # Every example is there, and each kind did its job.
    expected = {(o["kind"], o["metadata"]["name"]) for o in demo_applied["objects"]}
    expected -= {("Namespace", NAMESPACE)}
    assert {(i["kind"], i["metadata"]["name"]) for i in items} == expected
    kinds = {kind for kind, _ in expected}
    assert {"Connection", "ContactSync", "MailboxSync", "EmailCampaign"} <= kinds

    mailbox = _get(kube, "mailboxsync", "ana-mailbox")
    mail = demo_applied["mail"]
    assert mailbox["status"]["counts"]["captured"] == mail["matching_crm_records"] == 7
    assert mailbox["status"]["counts"]["unmatched"] == 1
    assert mailbox["status"]["ownerUserId"] == mail["owner"]["id"]
    assert condition(_get(kube, "connection", "sales-mailbox-ana"), "Ready") == "True"

    two_way = _get(kube, "contactsync", "contacts-mailchimp")
    assert two_way["spec"]["flow"]["type"] == "TwoWay"
    assert two_way["status"]["lastRun"]["outcome"] == "Succeeded"

    campaign = _get(kube, "emailcampaign", "spring-webinar")
    assert campaign["status"]["campaignKey"]
    assert campaign["status"]["recipients"]["selected"] > 0
    assert condition(campaign, "RecipientsSynced") == "True"


def test_demo_examples_talk_to_local_servers_only() -> None:
    """What needs a real account lives in examples/real-accounts/, which the demo (and
    ``kubectl apply -f examples/``) does not apply."""
    for path in sorted((REPO / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Connection":
                spec = doc["spec"]
                if spec["provider"] == "imap":
                    assert spec["imap"]["host"] == "127.0.0.1", path.name
                else:
                    assert spec["apiBaseUrl"].startswith("http://127.0.0.1:"), path.name
    real = REPO / "examples" / "real-accounts"
    assert (real / "README.md").exists()
    for path in sorted(real.glob("*.yaml")):
        assert "127.0.0.1" not in path.read_text(), path.name
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == "crmsync", path.name


def test_sim_imap_serves_a_mailbox_until_stopped() -> None:
    """``crmsync sim imap``, as the demo runs it: one JSON line once Dovecot answers, the
    user logs in, SIGTERM stops Dovecot too."""
    import imaplib
    import shutil
    import tempfile

    # Not pytest's data_dir: Dovecot's auth process (not root) must reach the passwd-file.
    data_dir = Path(tempfile.mkdtemp(prefix="crmsync-sim-imap-"))
    process = subprocess.Popen(
        [sys.executable, "-m", "crmsync", "sim", "imap", "--data-dir", str(data_dir),
         "--user", "ana@demo.test:pw-1"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["users"] == ["ana@demo.test"] and info["port"] > 0
        client = imaplib.IMAP4(info["host"], info["port"], timeout=30)
        client.login("ana@demo.test", "pw-1")
        assert client.select("Sent")[0] == "OK"
        client.logout()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    master = subprocess.run(
        ["pgrep", "-f", f"dovecot -F -c {data_dir}/"], capture_output=True, text=True
    )
    assert master.stdout == "", "Dovecot outlived crmsync sim imap"
    shutil.rmtree(data_dir, ignore_errors=True)


def test_demo_secrets_are_the_ones_the_examples_name() -> None:
    info = {
        "zoho_crm": {"client_id": "c", "client_secret": "s", "refresh_token": "r"},
        "zoho_campaigns": {"client_id": "c2", "client_secret": "s2", "refresh_token": "r2"},
        "mailchimp": {"api_key": "k-us1"},
    }
    listed = demo.secrets(info, "ns", MAILBOX_USER, MAILBOX_PASSWORD)
    made = {s["metadata"]["name"]: s["stringData"] for s in listed["items"]}
    named = set()
    for path in sorted((REPO / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Connection":
                named.add(doc["spec"]["credentialsSecretRef"]["name"])
    assert set(made) == named
    assert made[demo.MAILBOX_SECRET] == {"username": MAILBOX_USER, "password": MAILBOX_PASSWORD}
    assert made["mailchimp-credentials"] == {"apiKey": "k-us1"}
