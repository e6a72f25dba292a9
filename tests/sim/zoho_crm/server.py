"""Runs the local Zoho CRM in-process (own thread and event loop) for its own tests."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from crmsync_testbed.sim.zoho_crm import VENDOR


@dataclass
class CrmServer:
    base_url: str
    data_dir: Path
    credentials: dict[str, Any]
    _token: str | None = field(default=None, repr=False)

    def token(self, fresh: bool = False) -> str:
        if self._token is None or fresh:
            response = httpx.post(
                f"{self.base_url}/oauth/v2/token",
                data={
                    "grant_type": "refresh_token",
                    "client_id": self.credentials["client_id"],
                    "client_secret": self.credentials["client_secret"],
                    "refresh_token": self.credentials["refresh_token"],
                },
            )
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def client(self, version: str = "v8") -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.base_url}/crm/{version}",
            headers={"Authorization": f"Zoho-oauthtoken {self.token()}"},
            timeout=30,
        )

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.base_url}{path}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()


@contextmanager
def run_crm(data_dir: Path) -> Iterator[CrmServer]:
    """Serve ``data_dir`` on a free port until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner_box: list[web.AppRunner] = []

    async def start() -> None:
        runner = web.AppRunner(VENDOR.create_app(data_dir, base_url, None), access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        runner_box.append(runner)
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    ready.wait(10)
    try:
        yield CrmServer(base_url, data_dir, VENDOR.credentials(base_url))
    finally:
        asyncio.run_coroutine_threadsafe(runner_box[0].cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
