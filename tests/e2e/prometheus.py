"""The real Prometheus server (Debian package ``prometheus``) on loopback, for tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from crmsync_testbed.controlplane.process import free_port
from tests.conftest import REPO

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
RULES = REPO / "manifests" / "prometheus" / "crmsync-rules.yaml"


def ensure_installed() -> None:
    """hack/apt.sh installs the package when the test command runs; do it here too when a
    test is run on its own."""
    if not (Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()):
        subprocess.run(["bash", str(REPO / "hack" / "apt.sh")], check=True, timeout=600)


def promtool(*args: str, stdin: str | None = None, cwd: Path | None = None) -> str:
    ensure_installed()
    result = subprocess.run(
        [PROMTOOL, *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"promtool {' '.join(args)} failed:\n{output}")
    return output


@dataclass
class Prometheus:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; raises with Prometheus' error text when it does not parse."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {body.get('error')}")
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        """The value of a query that returns one series (None when it returns none)."""
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()["data"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_prometheus(directory: Path, targets: list[str]) -> Prometheus:
    """Scrape ``targets`` every second, with the crmsync alert rules loaded."""
    ensure_installed()
    directory.mkdir(parents=True, exist_ok=True)
    rules = directory / "crmsync-rules.yaml"
    shutil.copy(RULES, rules)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "crmsync-operator", "static_configs": [{"targets": targets}]}
        ],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = directory / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise AssertionError(f"prometheus not ready:\n{log.read_text(errors='replace')}")
