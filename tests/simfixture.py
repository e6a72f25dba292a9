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
from typing import Any, ClassVar

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

    def admin(self, vendor: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """A call on ``/_admin/<vendor>/<path>``."""
        url = f"{self.base_url(vendor)}/_admin/{vendor}/{path}"
        response = httpx.request(method, url, json=body, timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def set_token_limit(self, vendor: str, tokens_per_window: int = 10) -> dict[str, Any]:
        """Zoho's limit on new access tokens (10 per 10 minutes unless a test needs more)."""
        return self.admin(vendor, "PUT", "oauth_limits", {"tokens_per_window": tokens_per_window})

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


class ZohoSimAuth(httpx.Auth):
    """A test's own Zoho token: one per local accounts server, minted again only after a 401.

    Zoho allows 10 new access tokens per refresh token per 10 minutes, and so do the local
    servers; tests reading vendors behind crmsync's back must not spend that budget.
    """

    _tokens: ClassVar[dict[tuple[str, str], str]] = {}

    def __init__(self, info: dict[str, Any]) -> None:
        self.url = f"{info.get('accounts_url', info['base_url'])}/oauth/v2/token"
        self.form = {
            "grant_type": "refresh_token",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "refresh_token": info["refresh_token"],
        }
        self.key = (self.url, str(info["refresh_token"]))

    def token(self, fresh: bool = False) -> str:
        if fresh or self.key not in self._tokens:
            response = httpx.post(self.url, data=self.form, timeout=30)
            response.raise_for_status()
            self._tokens[self.key] = str(response.json()["access_token"])
        return self._tokens[self.key]

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Zoho-oauthtoken {self.token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Zoho-oauthtoken {self.token(fresh=True)}"
            yield request
