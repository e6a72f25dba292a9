"""The Argo CD health check (manifests/argocd) under a real Lua interpreter, on status
documents built by the operator's own condition code."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from crmsync.k8s.conditions import RECONCILING, set_abnormal, set_condition
from tests import argocd

KINDS = (
    "Connection",
    "ContactSync",
    "FieldMapping",
    "OptOutPolicy",
    "MailboxSync",
    "EmailCampaign",
)


def test_argocd_cm_carries_the_script_for_every_kind() -> None:
    cm = yaml.safe_load((argocd.REPO / "manifests" / "argocd" / "argocd-cm.yaml").read_text())
    script = argocd.SCRIPT.read_text()
    assert cm["metadata"] == {
        "name": "argocd-cm",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/part-of": "argocd"},
    }
    assert cm["data"] == {f"resource.customizations.health.crmsync.dev_{k}": script for k in KINDS}


def doc(
    kind: str, conditions: list[dict[str, Any]], generation: int = 3, observed: int | None = 3
) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": conditions}
    if observed is not None:
        status["observedGeneration"] = observed
    return {
        "apiVersion": "crmsync.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "generation": generation},
        "status": status,
    }


READY = set_condition(None, "Ready", True, "Resolved", "usable", 3)
CASES = {
    "ready": (doc("ContactSync", READY), "Healthy"),
    "not observed yet": (doc("ContactSync", READY, observed=2), "Progressing"),
    "first load": (
        doc("ContactSync", set_abnormal(READY, RECONCILING, True, "InitialRun", "", 3)),
        "Progressing",
    ),
    "spec error": (
        doc("ContactSync", set_condition(READY, "Ready", False, "UnmappableField", "x", 3)),
        "Degraded",
    ),
    "waiting for a Connection": (
        doc("EmailCampaign", set_condition(READY, "Ready", False, "ConnectionNotReady", "x", 3)),
        "Progressing",
    ),
    "unreachable": (
        doc("Connection", set_condition(None, "Ready", None, "ProviderUnreachable", "", 3)),
        "Progressing",
    ),
    "suspended": (
        doc("MailboxSync", set_condition(READY, "Suspended", True, "SuspendedBySpec", "", 3)),
        "Suspended",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_lua_health_agrees_with_kstatus(case: str) -> None:
    obj, wanted = CASES[case]
    assert argocd.assert_agrees(obj)["status"] == wanted


def test_no_status_yet_and_configuration_kinds() -> None:
    fresh = {"kind": "ContactSync", "metadata": {"name": "x", "generation": 1}}
    assert argocd.health(fresh)["status"] == "Progressing"
    for kind in ("FieldMapping", "OptOutPolicy"):
        assert argocd.health({"kind": kind, "metadata": {"generation": 1}})["status"] == "Healthy"
    message = argocd.health(CASES["spec error"][0])["message"]
    assert message == "UnmappableField: x"
