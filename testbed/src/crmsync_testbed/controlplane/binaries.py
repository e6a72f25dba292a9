"""Where the control-plane binaries come from: built from Go modules, cached."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "hack" / "envtest" / "build.sh"


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kubectl: Path


def find_binaries() -> Binaries:
    """``$CRMSYNC_ENVTEST_BIN`` if set, else the cached build of hack/envtest (built if missing).

    kubectl is the one on PATH; when there is none, the build script builds it too.
    """
    bin_dir_env = os.environ.get("CRMSYNC_ENVTEST_BIN")
    if bin_dir_env:
        bin_dir = Path(bin_dir_env)
    elif BUILD_SCRIPT.exists():
        out = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True
        )
        bin_dir = Path(out.stdout.strip().splitlines()[-1])
    else:
        raise FileNotFoundError(
            "no control-plane binaries: set CRMSYNC_ENVTEST_BIN or run from a crmsync checkout"
        )
    kubectl = shutil.which("kubectl")
    return Binaries(
        etcd=bin_dir / "etcd",
        kube_apiserver=bin_dir / "kube-apiserver",
        kubectl=Path(kubectl) if kubectl else bin_dir / "kubectl",
    )
