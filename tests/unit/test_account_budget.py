"""Every client of one Connection draws from one request budget (issue 14.2)."""

from __future__ import annotations

import asyncio

import httpx

from crmsync.providers.factory import Endpoint
from crmsync.providers.http import CallStats, HttpClient


def endpoint(connection: str, concurrency: int = 2) -> Endpoint:
    return Endpoint(
        provider="mailchimp",
        credentials={"apiKey": "k-us1"},
        connection=connection,
        max_concurrency=concurrency,
        requests_per_second=1000,
    )


def test_clients_of_one_connection_share_one_budget() -> None:
    async def check() -> None:
        first, again = endpoint("ns/mc").shared_budget(), endpoint("ns/mc").shared_budget()
        assert first is not None and again is not None
        assert first[0] is again[0] and first[1] is again[1]
        other = endpoint("ns/other").shared_budget()
        assert other is not None and other[0] is not first[0]
        widened = endpoint("ns/mc", concurrency=4).shared_budget()
        assert widened is not None and widened[0] is not first[0]
        assert endpoint("").shared_budget() is None  # CLI and tests: a client of its own

    asyncio.run(check())


def test_requests_in_flight_stay_within_the_connection_limit_across_clients() -> None:
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return httpx.Response(200, json={})

    async def load() -> None:
        shared = endpoint("ns/limited").shared_budget()
        clients = [
            HttpClient("mailchimp", "http://mc", CallStats(), limits=endpoint("").limits,
                       transport=httpx.MockTransport(slow), shared=shared)
            for _ in range(3)
        ]  # fmt: skip
        await asyncio.gather(*(c.request("GET", "/x") for c in clients for _ in range(6)))
        for client in clients:
            await client.aclose()

    asyncio.run(load())
    assert peak == 2
