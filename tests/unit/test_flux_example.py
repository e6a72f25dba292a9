"""manifests/flux: the Flux Kustomizations point at folders of this repository and health-
check objects the examples really declare."""

from __future__ import annotations

import yaml

from tests.conftest import REPO


def test_flux_health_checks_name_objects_of_the_examples() -> None:
    docs = [d for d in yaml.safe_load_all((REPO / "manifests/flux/kustomizations.yaml").read_text()) if d]  # fmt: skip
    assert {d["kind"] for d in docs} == {"Kustomization"}
    declared = {
        (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace"))
        for path in sorted((REPO / "examples").glob("*.yaml"))
        for d in yaml.safe_load_all(path.read_text())
        if d
    }
    checks = [c for d in docs for c in d["spec"].get("healthChecks", [])]
    assert {c["kind"] for c in checks} >= {"Connection", "ContactSync", "MailboxSync", "EmailCampaign"}  # fmt: skip
    for check in checks:
        assert check["apiVersion"] == "crmsync.dev/v1alpha1"
        assert (check["kind"], check["name"], check["namespace"]) in declared, check
    for d in docs:
        assert (REPO / d["spec"]["path"]).is_dir(), d["spec"]["path"]
