"""One TLS context for every vendor client.

httpx builds a new context for each client it creates, loading the whole CA bundle: tens
of milliseconds of CPU and most of a MiB that the allocator keeps. Runs, channel checks
and notification routing each open clients, so with hundreds of syncs that was most of
the operator's CPU and memory. A context is safe to share between connections.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def vendor_tls() -> ssl.SSLContext:
    """httpx's default context (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), made once."""
    return httpx.create_ssl_context()
