"""`crmsync controlplane up/down` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (proc / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if text in cmdline and status != "Z" and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found


def test_up_prints_kubeconfig_and_down_leaves_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "plane"
    cli = [sys.executable, "-m", "crmsync", "controlplane"]
    up = subprocess.run(
        [*cli, "up", "--dir", str(directory)], capture_output=True, text=True, timeout=180
    )
    assert up.returncode == 0, up.stderr
    assert "current-context: crmsync-local" in up.stdout
    pids = json.loads((directory / "state.json").read_text())["pids"]
    assert set(pids) == {"etcd", "kube-apiserver"}
    assert len(_processes_mentioning(str(directory))) == 2

    version = subprocess.run(
        ["kubectl", "version", "-o", "json"],
        env={**os.environ, "KUBECONFIG": str(directory / "kubeconfig")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(version.stdout)["serverVersion"]["gitVersion"].startswith("v1.33.")

    down = subprocess.run(
        [*cli, "down", "--dir", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert down.returncode == 0, down.stderr
    assert _processes_mentioning(str(directory)) == []
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
