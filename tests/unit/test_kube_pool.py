"""The Kubernetes client's pool: a request that waited too long for a connection is sent
later, not failed (:class:`QueueingTransport`)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from crmsync.k8s.pool import MAX_CONNECTIONS, QueueingTransport, pooled_transport


class Busy(httpx.AsyncBaseTransport):
    """Times out waiting for the pool ``busy`` times, then answers."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls <= self.busy:
            raise httpx.PoolTimeout("no connection free", request=request)
        return httpx.Response(200, json={"ok": True}, request=request)


async def test_a_pool_timeout_is_retried() -> None:
    inner = Busy(busy=2)
    async with httpx.AsyncClient(transport=QueueingTransport(inner), base_url="http://k") as c:
        response = await c.post("/api/v1/namespaces/ns/secrets", json={"a": 1})
    assert response.json() == {"ok": True}
    assert inner.calls == 3


async def test_a_pool_that_stays_full_fails_in_the_end() -> None:
    inner = Busy(busy=10)
    async with httpx.AsyncClient(
        transport=QueueingTransport(inner, tries=3), base_url="http://k"
    ) as c:
        with pytest.raises(httpx.PoolTimeout):
            await c.get("/api")
    assert inner.calls == 3


async def test_requests_beyond_the_pool_wait_their_turn() -> None:
    """More requests at once than connections: all answered, none failed."""
    served = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal served
        await asyncio.sleep(0.01)
        served += 1
        return httpx.Response(200, request=request)

    transport = QueueingTransport(httpx.MockTransport(slow))
    async with httpx.AsyncClient(transport=transport, base_url="http://k") as client:
        answers = await asyncio.gather(*(client.get("/api") for _ in range(4 * MAX_CONNECTIONS)))
    assert {a.status_code for a in answers} == {200}
    assert served == 4 * MAX_CONNECTIONS


async def test_the_pool_keeps_every_connection_it_opens() -> None:
    transport = pooled_transport(verify=False)
    pool = transport._inner._pool  # type: ignore[attr-defined]
    assert pool._max_connections == pool._max_keepalive_connections == MAX_CONNECTIONS
    await transport.aclose()
