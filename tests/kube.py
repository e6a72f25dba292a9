"""Run kubectl against the local control plane started for the tests."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmsync_testbed.controlplane import ControlPlane
from crmsync_testbed.controlplane.binaries import Binaries


@dataclass
class Kube:
    plane: ControlPlane
    binaries: Binaries

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.plane.kubeconfig)}

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binaries.kubectl), *args],
            env=self.env,
            capture_output=True,
            text=True,
            input=stdin,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", "-o", "json", *args).stdout)

    def apply(self, path: Path, namespace: str | None = None) -> None:
        extra = ["-n", namespace] if namespace else []
        self.kubectl("apply", "-f", str(path), *extra)
