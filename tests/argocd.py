"""Argo CD's view of crmsync resources: ``manifests/argocd/health.lua`` run by a real Lua
interpreter (``lua5.4`` with ``dkjson``, from hack/apt.sh) the way Argo CD runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests import kstatus

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "manifests" / "argocd" / "health.lua"
HARNESS = Path(__file__).resolve().parent / "lua" / "argocd_health.lua"
FROM_KSTATUS = {
    kstatus.CURRENT: "Healthy",
    kstatus.IN_PROGRESS: "Progressing",
    kstatus.FAILED: "Degraded",
}


def health(obj: Mapping[str, Any]) -> dict[str, str]:
    lua = shutil.which("lua5.4")
    assert lua, "lua5.4 is missing: bash hack/apt.sh installs it"
    done = subprocess.run(
        [lua, str(HARNESS), str(SCRIPT)],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result


def suspended(obj: Mapping[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conditions)


def expected(obj: Mapping[str, Any]) -> str:
    """Argo CD's status for what kstatus says (a Current suspended sync is Suspended)."""
    status = kstatus.compute(obj).status
    if status == kstatus.CURRENT and suspended(obj):
        return "Suspended"
    return FROM_KSTATUS[status]


def assert_agrees(obj: Mapping[str, Any]) -> dict[str, str]:
    """The Lua check and the kstatus rules judge ``obj`` alike; returns the Lua verdict."""
    verdict = health(obj)
    assert verdict["status"] == expected(obj), (verdict, kstatus.compute(obj), obj.get("status"))
    return verdict
