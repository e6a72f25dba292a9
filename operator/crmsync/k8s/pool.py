"""The Kubernetes client's connection pool: sized for hundreds of syncs sharing it, and a
request that finds every connection busy waits its turn instead of failing.

Every connection is kept alive once opened: a burst above the keep-alive count would
otherwise open and close TLS connections over and over (a handshake costs far more CPU
than the request it carries).
"""

from __future__ import annotations

import logging
import ssl

import httpx

MAX_CONNECTIONS = 32
"""Requests in flight at once; the API server takes hundreds, the operator's two cores
(not the pool) are what limits a burst."""
POOL_WAIT_SECONDS = 60.0
POOL_TRIES = 5
"""A request waits up to POOL_TRIES × POOL_WAIT_SECONDS for a connection before it fails."""
REQUEST_TIMEOUT = httpx.Timeout(30.0, pool=POOL_WAIT_SECONDS)

log = logging.getLogger("crmsync.kube")


class QueueingTransport(httpx.AsyncBaseTransport):
    """Retries a request that timed out waiting for a pooled connection: it was never
    sent, so sending it later is safe whatever its method."""

    def __init__(self, inner: httpx.AsyncBaseTransport, tries: int = POOL_TRIES) -> None:
        self._inner = inner
        self._tries = tries

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(1, self._tries + 1):
            try:
                return await self._inner.handle_async_request(request)
            except httpx.PoolTimeout:
                if attempt == self._tries:
                    raise
                log.warning(
                    "Kubernetes API %s %s waited for a connection (%d of %d tries)",
                    request.method,
                    request.url.path,
                    attempt,
                    self._tries,
                )
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._inner.aclose()


def pooled_transport(verify: ssl.SSLContext | bool) -> QueueingTransport:
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    return QueueingTransport(httpx.AsyncHTTPTransport(verify=verify, limits=limits))
