"""A local Zoho Campaigns server on 127.0.0.1:<free port>, run in a background thread.

It is started the way ``crmsync sim serve`` starts every vendor (``VENDOR.create_app`` on a
pre-bound socket), without needing the other vendor modules. ``restart()`` stops the app
and starts a new one on the same data directory (for persistence tests).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from crmsync_testbed.sim.zoho_campaigns import VENDOR


class CampaignsServer:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner: web.AppRunner | None = None
        self.base_url = ""
        self.start()

    def _run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout=30)

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"

        async def up() -> web.AppRunner:
            app = VENDOR.create_app(self.data_dir, self.base_url, None)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            return runner

        self.runner = self._run(up())

    def stop(self) -> None:
        if self.runner is not None:
            self._run(self.runner.cleanup())
            self.runner = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class CampaignsClient:
    """A minimal client: refresh-token OAuth, form-encoded calls, JSON answers."""

    server: CampaignsServer
    token: str = ""
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    @property
    def credentials(self) -> dict[str, Any]:
        return VENDOR.credentials(self.server.base_url)

    def refresh(self) -> dict[str, Any]:
        creds = self.credentials
        response = self.http.post(
            f"{creds['accounts_url']}/oauth/v2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": creds["client_id"],
                "client_secret": creds["client_secret"],
                "refresh_token": creds["refresh_token"],
            },
        )
        body: dict[str, Any] = response.json()
        self.token = body["access_token"]
        return body

    def raw(self, http_method: str, method: str, **params: Any) -> httpx.Response:
        if not self.token:
            self.refresh()
        url = f"{self.server.base_url}/api/v1.1/{method}"
        headers = {"Authorization": f"Zoho-oauthtoken {self.token}"}
        values = {"resfmt": "JSON", **{k: str(v) for k, v in params.items()}}
        if http_method == "GET":
            return self.http.get(url, params=values, headers=headers)
        return self.http.post(url, data=values, headers=headers)

    def get(self, method: str, **params: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.raw("GET", method, **params).json()
        return body

    def post(self, method: str, **params: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.raw("POST", method, **params).json()
        return body

    def admin(self, http_method: str, path: str, json: Any = None) -> httpx.Response:
        return self.http.request(http_method, f"{self.server.base_url}/_admin{path}", json=json)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CampaignsServer]:
    running = CampaignsServer(tmp_path / "zoho_campaigns")
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def client(server: CampaignsServer) -> Iterator[CampaignsClient]:
    api = CampaignsClient(server)
    try:
        yield api
    finally:
        api.http.close()
