"""The generic kstatus rules, ported to Python for the tests.

A port of ``Compute`` in sigs.k8s.io/cli-utils ``pkg/kstatus/status/status.go`` with
``checkGenericProperties``/``checkGeneration`` from ``generic.go`` and
``checkReadyCondition`` from ``status.go`` (commit 5895ad6c17dd06b99c1e5c8af17e2b12a3504fad,
October 2025) — the rules Flux, kpt and ``kubectl wait``-style tooling judge custom
resources by. The per-kind rules of ``core.go`` (Deployment, Pod, …) do not apply to
custom resources and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CURRENT = "Current"
IN_PROGRESS = "InProgress"
FAILED = "Failed"
TERMINATING = "Terminating"


@dataclass(frozen=True)
class Result:
    status: str
    message: str
    reason: str = ""


def compute(obj: Mapping[str, Any]) -> Result:
    """``status.Compute`` for a resource without kind-specific rules."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return Result(TERMINATING, "Resource scheduled for deletion")
    generation = meta.get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed != generation:
        kind = obj.get("kind", "")
        return Result(
            IN_PROGRESS,
            f"{kind} generation is {generation}, but latest observed generation is {observed}",
            "LatestGenerationNotObserved",
        )
    conditions = status.get("conditions") or []
    for cond in conditions:
        if cond.get("type") == "Reconciling" and cond.get("status") == "True":
            return Result(IN_PROGRESS, cond.get("message", ""), cond.get("reason", ""))
        if cond.get("type") == "Stalled" and cond.get("status") == "True":
            return Result(FAILED, cond.get("message", ""), cond.get("reason", ""))
    for cond in conditions:
        if cond.get("type") != "Ready":
            continue
        if cond.get("status") == "True":
            return Result(CURRENT, "Resource is Ready")
        if cond.get("status") in ("False", "Unknown"):
            return Result(IN_PROGRESS, cond.get("message", ""), cond.get("reason", ""))
    return Result(CURRENT, "Resource is current")
