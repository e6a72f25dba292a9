"""Start and stop etcd + kube-apiserver; write the kubeconfig."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from crmsync_testbed.controlplane.binaries import Binaries, find_binaries
from crmsync_testbed.controlplane.pki import PkiFiles, write_pki

START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class ControlPlane:
    """One control plane whose state (pids, ports, logs, kubeconfig) lives in ``directory``."""

    directory: Path

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def start(self, binaries: Binaries | None = None) -> dict[str, Any]:
        """Start both processes, wait until the API server is ready, write the kubeconfig."""
        if self.state_file.exists():
            raise RuntimeError(f"a control plane already runs from {self.directory} (down first)")
        binaries = binaries or find_binaries()
        self.directory.mkdir(parents=True, exist_ok=True)
        pki = write_pki(self.directory / "pki")
        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        logs = self.directory / "logs"
        logs.mkdir(exist_ok=True)

        etcd = self._spawn(
            [
                str(binaries.etcd),
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            logs / "etcd.log",
        )
        state: dict[str, Any] = {"pids": {"etcd": etcd}, "ports": {"etcd": etcd_port}}
        self._write_state(state)
        self._wait_http(f"http://127.0.0.1:{etcd_port}/health", verify=False)

        apiserver = self._spawn(
            [
                str(binaries.kube_apiserver),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={self.directory / 'pki'}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.client_ca}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer=https://127.0.0.1:{api_port}",
                f"--service-account-key-file={pki.sa_public}",
                f"--service-account-signing-key-file={pki.sa_private}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--disable-admission-plugins=ServiceAccount",
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
            ],
            logs / "kube-apiserver.log",
        )
        state["pids"]["kube-apiserver"] = apiserver
        state["ports"]["kube-apiserver"] = api_port
        server = f"https://127.0.0.1:{api_port}"
        state["server"] = server
        self._write_state(state)

        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "crmsync-local",
                            "cluster": {
                                "server": server,
                                "certificate-authority-data": _b64(pki.serving_ca_pem),
                            },
                        }
                    ],
                    "users": [
                        {
                            "name": "admin",
                            "user": {
                                "client-certificate-data": _b64(pki.admin.cert_pem),
                                "client-key-data": _b64(pki.admin.key_pem),
                            },
                        }
                    ],
                    "contexts": [
                        {
                            "name": "crmsync-local",
                            "context": {"cluster": "crmsync-local", "user": "admin"},
                        }
                    ],
                    "current-context": "crmsync-local",
                }
            )
        )
        self.kubeconfig.chmod(0o600)
        try:
            self._wait_http(
                f"{server}/readyz", verify=ssl.create_default_context(cafile=str(pki.serving_ca))
            )
            self._wait_default_namespace(server, pki)
        except Exception:
            self.stop()
            raise
        return state

    def stop(self) -> None:
        """Stop the API server, then etcd; wait for both to be gone."""
        if not self.state_file.exists():
            return
        state = json.loads(self.state_file.read_text())
        for name in ("kube-apiserver", "etcd"):
            pid = state["pids"].get(name)
            if pid is not None:
                _terminate(pid, name)
        self.state_file.unlink()

    def _spawn(self, argv: list[str], log: Path) -> int:
        with log.open("ab") as out:
            process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives `crmsync controlplane up` exiting
            )
        return process.pid

    def _write_state(self, state: dict[str, Any]) -> None:
        self.state_file.write_text(json.dumps(state, indent=2))

    def _wait_http(self, url: str, *, verify: ssl.SSLContext | bool) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        last: object = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                response = httpx.get(url, verify=verify, timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.2)
        raise TimeoutError(f"{url} not ready after {START_TIMEOUT_SECONDS:.0f}s: {last}")

    def _wait_default_namespace(self, server: str, pki: PkiFiles) -> None:
        cert = self.directory / "pki" / "admin.crt"
        key = self.directory / "pki" / "admin.key"
        cert.write_bytes(pki.admin.cert_pem)
        key.write_bytes(pki.admin.key_pem)
        key.chmod(0o600)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        context = ssl.create_default_context(cafile=str(pki.serving_ca))
        context.load_cert_chain(str(cert), str(key))
        while time.monotonic() < deadline:
            response = httpx.get(f"{server}/api/v1/namespaces/default", verify=context, timeout=2.0)
            if response.status_code == 200:
                return
            time.sleep(0.2)
        raise TimeoutError("namespace 'default' never appeared")

    def _check_alive(self) -> None:
        state = json.loads(self.state_file.read_text())
        for name, pid in state["pids"].items():
            if not _is_running(pid):
                log = self.directory / "logs" / f"{name}.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(f"{name} exited during start-up:\n{tail}")


def _is_running(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap if it is our child and already exited
    except ChildProcessError:
        pass
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return False
    return stat.read_text().split(") ", 1)[1][:1] != "Z"


def _terminate(pid: int, name: str) -> None:
    """SIGTERM the process group, SIGKILL after a grace period; only if it is still ours."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not _is_running(pid) or name.encode() not in cmdline.read_bytes():
        return
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not _is_running(pid):
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    while _is_running(pid):
        time.sleep(0.05)


def main_up(directory: Path) -> int:
    plane = ControlPlane(directory.resolve())
    started = time.monotonic()
    state = plane.start()
    print(
        f"# control plane ready in {time.monotonic() - started:.1f}s at {state['server']}; "
        f"export KUBECONFIG={plane.kubeconfig}",
        file=sys.stderr,
    )
    print(plane.kubeconfig.read_text())
    return 0


def main_down(directory: Path) -> int:
    ControlPlane(directory.resolve()).stop()
    return 0
