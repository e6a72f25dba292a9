"""Starts ``crmsync sim serve`` as a real subprocess and talks to its admin API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass
class SimServers:
    data_dir: Path
    info: dict[str, Any]
    process: subprocess.Popen[str]

    def base_url(self, vendor: str) -> str:
        return str(self.info[vendor]["base_url"])

    def counters(self, vendor: str) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url(vendor)}/_admin/counters")
        response.raise_for_status()
        return dict(response.json())

    def reset_counters(self, vendor: str) -> None:
        httpx.post(f"{self.base_url(vendor)}/_admin/counters/reset").raise_for_status()

    def set_faults(self, vendor: str, **faults: Any) -> None:
        httpx.put(f"{self.base_url(vendor)}/_admin/faults", json=faults).raise_for_status()

    def seed(self, **options: Any) -> dict[str, Any]:
        args = [sys.executable, "-m", "crmsync", "sim", "seed", "--data-dir", str(self.data_dir)]
        for key, value in options.items():
            if key == "only":
                for vendor in value:
                    args += ["--only", vendor]
            else:
                args += [f"--{key.replace('_', '-')}", str(value)]
        out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=600)
        return dict(json.loads(out.stdout))


@contextmanager
def run_sim(data_dir: Path, *extra_args: str) -> Iterator[SimServers]:
    process = subprocess.Popen(
        [sys.executable, "-m", "crmsync", "sim", "serve", "--data-dir", str(data_dir), *extra_args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"crmsync sim serve exited with {process.wait()}")
        yield SimServers(data_dir=data_dir, info=json.loads(line), process=process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
