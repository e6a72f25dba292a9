"""Vendor clients share one TLS context (:mod:`crmsync.providers.tls`)."""

from __future__ import annotations

from crmsync.providers.http import CallStats, HttpClient
from crmsync.providers.tls import vendor_tls


async def test_every_vendor_client_uses_the_one_context() -> None:
    clients = [HttpClient("mailchimp", f"https://us{i}.example", CallStats()) for i in range(3)]
    try:
        contexts = {id(c._client._transport._pool._ssl_context) for c in clients}  # type: ignore[attr-defined]
        assert contexts == {id(vendor_tls())}
    finally:
        for client in clients:
            await client.aclose()
