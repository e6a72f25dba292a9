"""Throughput of the local Mailchimp: single-member upserts and 500-member batch subscribes.

Starts its own server on 127.0.0.1 (port chosen by the OS) over a temporary data
directory, runs a bounded number of requests, prints requests/s, and stops.

    .venv/bin/python bench/sim_throughput_mailchimp.py [--upserts 2000] [--batches 20]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from aiohttp import web

from crmsync_testbed.sim.mailchimp import VENDOR

BATCH_SIZE = 500
CONCURRENT_CLIENTS = 8


@contextmanager
def local_server(data_dir: Path) -> Iterator[str]:
    """The Mailchimp app on a loopback port, in a background event loop; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    sock.setblocking(False)
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(VENDOR.create_app(data_dir, base_url, None), access_log=None)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started.wait(30)
    try:
        yield base_url
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def measure(
    label: str, count: int, send: Callable[[int], httpx.Response], workers: int = 1
) -> None:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        statuses = list(pool.map(lambda i: send(i).status_code, range(count)))
    elapsed = time.perf_counter() - started
    failed = sum(status != 200 for status in statuses)
    print(
        f"{label:<48} {count / elapsed:9.1f} req/s  ({count} requests, {elapsed:.2f} s, {failed} not 200)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upserts", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    credentials = VENDOR.credentials("")
    list_id = credentials["list_id"]
    with tempfile.TemporaryDirectory() as data_dir, local_server(Path(data_dir)) as base_url:
        local = threading.local()

        def client() -> httpx.Client:
            if not hasattr(local, "client"):
                local.client = httpx.Client(
                    base_url=f"{base_url}/3.0", auth=("bench", credentials["api_key"]), timeout=60
                )
            return local.client  # type: ignore[no-any-return]

        def upsert(prefix: str) -> Callable[[int], httpx.Response]:
            def send(index: int) -> httpx.Response:
                email = f"{prefix}.{index}@example.com"
                digest = hashlib.md5(email.encode()).hexdigest()
                body = {
                    "email_address": email,
                    "status_if_new": "subscribed",
                    "merge_fields": {"FNAME": "Bench"},
                }
                return client().put(f"/lists/{list_id}/members/{digest}", json=body)

            return send

        def batch_subscribe(index: int) -> httpx.Response:
            members = [
                {"email_address": f"batch{index}.{i}@example.com", "status": "subscribed"}
                for i in range(BATCH_SIZE)
            ]
            return client().post(
                f"/lists/{list_id}", json={"members": members, "update_existing": True}
            )

        print(f"local Mailchimp at {base_url}")
        measure("PUT member upsert, 1 client", args.upserts, upsert("single"))
        measure(
            f"PUT member upsert, {CONCURRENT_CLIENTS} clients",
            args.upserts,
            upsert("parallel"),
            workers=CONCURRENT_CLIENTS,
        )
        measure(
            f"POST batch subscribe ({BATCH_SIZE} members), 1 client", args.batches, batch_subscribe
        )
        print(f"  = {args.batches * BATCH_SIZE} members in batch subscribes")


if __name__ == "__main__":
    main()
