"""``crmsync sim serve`` and ``crmsync sim seed``: run and fill the local vendor servers."""

from __future__ import annotations

import asyncio
import importlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.common import FaultConfig
from crmsync_testbed.sim.vendor import SeedOptions, SimVendor

VENDOR_MODULES = ("zoho_crm", "zoho_campaigns", "mailchimp")


def load_vendors(only: list[str] | None = None) -> dict[str, SimVendor]:
    vendors: dict[str, SimVendor] = {}
    for module_name in VENDOR_MODULES:
        if only and module_name not in only:
            continue
        module = importlib.import_module(f"crmsync_testbed.sim.{module_name}")
        vendors[module_name] = module.VENDOR
    return vendors


async def start_servers(
    data_dir: Path,
    ports: dict[str, int],
    faults: FaultConfig | None = None,
    host: str = "127.0.0.1",
    only: list[str] | None = None,
) -> tuple[list[web.AppRunner], dict[str, Any]]:
    """Start every vendor server (or those in ``only``); return the runners and the
    description line's content.

    A port of 0 picks a free port.
    """
    runners: list[web.AppRunner] = []
    described: dict[str, Any] = {}
    for name, vendor in load_vendors(only).items():
        # The app needs its own base URL (for links and callbacks) before it is bound,
        # so bind a socket first and hand the resulting URL to the app.
        site_port = ports.get(name, 0)
        sock = _bind(host, site_port)
        base_url = f"http://{host}:{sock.getsockname()[1]}"
        app = vendor.create_app(data_dir / name, base_url, faults)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        runners.append(runner)
        described[name] = {"base_url": base_url, **vendor.credentials(base_url)}
    return runners, described


def _bind(host: str, port: int) -> Any:
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


async def serve_forever(
    data_dir: Path,
    ports: dict[str, int],
    faults: FaultConfig | None,
    only: list[str] | None = None,
) -> None:
    runners, described = await start_servers(data_dir, ports, faults, only=only)
    print(json.dumps(described), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


def seed_all(data_dir: Path, options: SeedOptions, only: list[str] | None = None) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    for name, vendor in load_vendors(only).items():
        counts[name] = vendor.seed(data_dir / name, options)
    return counts


def main_serve(
    data_dir: Path, ports: dict[str, int], faults: str | None, only: list[str] | None = None
) -> int:
    """``only``: serve these vendors (each in a process of its own, when a benchmark wants
    one vendor's work not to wait on another's in one event loop, as it never does between
    real vendors)."""
    fault_config = FaultConfig.parse_cli(faults) if faults else None
    try:
        asyncio.run(serve_forever(data_dir, ports, fault_config, only))
    except KeyboardInterrupt:
        pass
    return 0


def main_seed(data_dir: Path, options: SeedOptions, only: list[str] | None) -> int:
    json.dump(seed_all(data_dir, options, only), sys.stdout)
    sys.stdout.write("\n")
    return 0
