"""The local Mailchimp alone, in a background thread of the test process.

``crmsync sim serve`` starts all three vendors; these tests need only this one, and need
to stop and restart it on the same data (persistence test).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from crmsync_testbed.sim.common import FaultConfig
from crmsync_testbed.sim.mailchimp import VENDOR


class LocalMailchimp:
    def __init__(self, data_dir: Path, faults: FaultConfig | None = None) -> None:
        self.data_dir = data_dir
        self.faults = faults
        self.base_url = ""
        self.credentials: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def api_key(self) -> str:
        return str(self.credentials["api_key"])

    @property
    def list_id(self) -> str:
        return str(self.credentials["list_id"])

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/3.0"

    def start(self) -> LocalMailchimp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.credentials = VENDOR.credentials(self.base_url)
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            app = VENDOR.create_app(self.data_dir, self.base_url, self.faults)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
            ready.set()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="local-mailchimp", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("local Mailchimp did not start")
        return self

    def stop(self) -> None:
        assert self._loop is not None and self._runner is not None and self._thread is not None
        runner = self._runner
        asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, auth=("anystring", self.api_key), timeout=30, **kwargs
        )

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.base_url}{path}", timeout=30, **kwargs)
