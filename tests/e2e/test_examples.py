"""examples/ and the CRDs against the real API server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.kube import Kube

pytestmark = pytest.mark.e2e

INVALID = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))


def _example_objects(folder: Path = REPO / "examples") -> list[dict[str, object]]:
    objects = []
    for path in sorted(folder.glob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return objects


def _assert_contains(stored: object, written: object, path: str) -> None:
    if isinstance(written, dict):
        assert isinstance(stored, dict), path
        for key, value in written.items():
            assert key in stored, f"{path}.{key} was pruned"
            _assert_contains(stored[key], value, f"{path}.{key}")
    elif isinstance(written, list):
        assert isinstance(stored, list) and len(stored) == len(written), path
        for index, (stored_item, written_item) in enumerate(zip(stored, written, strict=True)):
            _assert_contains(stored_item, written_item, f"{path}[{index}]")
    else:
        assert stored == written, path


def test_examples_apply_and_read_back(kube: Kube) -> None:
    kube.apply(REPO / "examples")
    for obj in _example_objects():
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        if obj["kind"] == "Namespace":
            continue
        stored = kube.get_json(str(obj["kind"]).lower(), meta["name"], "-n", meta["namespace"])
        # Everything we wrote comes back (nothing pruned), plus the schema's defaults.
        _assert_contains(stored["spec"], obj["spec"], f"{obj['kind']}/{meta['name']}.spec")
    listed = kube.kubectl("get", "crmsync", "-A").stdout
    for name in ("leads-newsletter", "contacts-mailchimp", "ana-mailbox", "gdpr-eu", "zoho-crm"):
        assert name in listed


def test_real_account_examples_apply_and_read_back(kube: Kube) -> None:
    """examples/real-accounts/ (not applied by the demo) is valid against the CRDs too."""
    folder = REPO / "examples" / "real-accounts"
    kube.apply(folder)
    objects = _example_objects(folder)
    assert {o["kind"] for o in objects} >= {"Connection", "ContactSync", "MailboxSync"}
    for obj in objects:
        meta = obj["metadata"]
        assert isinstance(meta, dict)
        if obj["kind"] == "Namespace":
            continue
        stored = kube.get_json(str(obj["kind"]).lower(), meta["name"], "-n", meta["namespace"])
        _assert_contains(stored["spec"], obj["spec"], f"{obj['kind']}/{meta['name']}.spec")
    nightly = kube.get_json("contactsync", "contacts-mailchimp-nightly", "-n", "crmsync")
    assert nightly["spec"]["trigger"]["schedule"]["at"] == "02:00"


def test_schema_defaults_are_applied_by_the_api_server(kube: Kube) -> None:
    kube.apply(REPO / "examples")
    stored = kube.get_json("contactsync", "leads-newsletter", "-n", "crmsync-demo")
    assert stored["spec"]["syncMode"] == "Upsert"
    assert stored["spec"]["crm"]["emailField"] == "Email"
    assert stored["spec"]["backfillOnMappingChange"] is True
    two_way = kube.get_json("contactsync", "contacts-mailchimp", "-n", "crmsync-demo")
    assert two_way["spec"]["trigger"]["pollInterval"] == "5m"
    assert "direction" not in two_way["spec"]["flow"]


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_resource_is_rejected_naming_the_field(kube: Kube, path: Path) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    result = kube.kubectl("apply", "-n", "default", "-f", str(path), check=False)
    assert result.returncode != 0, f"{path.name} was accepted"
    assert expected in result.stderr


def test_at_least_fifteen_distinct_rejections() -> None:
    messages = {p.read_text().splitlines()[0] for p in INVALID}
    assert len(messages) >= 15


def test_module_is_immutable(kube: Kube) -> None:
    kube.apply(REPO / "examples")
    result = kube.kubectl(
        "patch",
        "contactsync",
        "leads-newsletter",
        "-n",
        "crmsync-demo",
        "--type=merge",
        "-p",
        '{"spec":{"crm":{"module":"Contacts"}}}',
        check=False,
    )
    assert result.returncode != 0
    assert "spec.crm.module is immutable" in result.stderr


def test_kubectl_explain_documents_fields(kube: Kube) -> None:
    out = " ".join(kube.kubectl("explain", "contactsync.spec.subscriptionType").stdout.split())
    assert "never overwritten (Z5)" in out
    out = kube.kubectl("explain", "connection.spec.credentialsSecretRef").stdout
    assert "refreshToken" in out


def test_optional_fields_read_by_rules_are_defaulted_not_refused(
    kube: Kube, tmp_path: Path
) -> None:
    """A MailboxSync without folders gets INBOX and Sent (its rules read folders), and a
    Daily schedule gets no minute it would then refuse."""
    manifest = tmp_path / "defaults.yaml"
    manifest.write_text(
        """
apiVersion: crmsync.dev/v1alpha1
kind: MailboxSync
metadata: {name: no-folders}
spec: {mailboxRef: {name: box}, crm: {name: crm}, owner: ana@example.com}
---
apiVersion: crmsync.dev/v1alpha1
kind: ContactSync
metadata: {name: daily-defaults}
spec:
  crm: {connectionRef: {name: crm}, module: Leads}
  target: {connectionRef: {name: mc}, listId: abc}
  trigger: {mode: Scheduled, schedule: {frequency: Daily, at: "02:00"}}
"""
    )
    kube.apply(manifest, namespace="default")
    mailbox = kube.get_json("mailboxsync", "no-folders", "-n", "default")
    assert mailbox["spec"]["folders"] == ["INBOX", "Sent"]
    assert mailbox["spec"]["modules"] == ["Leads", "Contacts", "Deals"]
    sync = kube.get_json("contactsync", "daily-defaults", "-n", "default")
    assert sync["spec"]["trigger"]["schedule"] == {
        "frequency": "Daily",
        "at": "02:00",
        "timeZone": "UTC",
    }
