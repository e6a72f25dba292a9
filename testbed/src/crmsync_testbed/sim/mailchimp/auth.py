"""Who may call the API, and how many calls one key may have in flight.

Auth is HTTP Basic with the API key as password (any username), or an OAuth token sent
as ``Authorization: Bearer``/``OAuth``. The key's ``-us1`` suffix names the data centre;
a key for another data centre is refused like a wrong key. Mailchimp allows 10
simultaneous connections per key and answers the 11th with 429
(https://mailchimp.com/developer/marketing/guides/run-async-requests-batch-endpoint/).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from crmsync_testbed.sim.mailchimp import errors

DATA_CENTER = "us1"
API_KEY = f"{hashlib.md5(b'crmsync-mailchimp-api-key').hexdigest()}-{DATA_CENTER}"
OAUTH_TOKEN = hashlib.md5(b"crmsync-mailchimp-oauth-token").hexdigest()
MAX_CONCURRENT_PER_KEY = 10


def credential(request: web.Request) -> str:
    """The API key or token the request authenticates with, or the matching 401."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise errors.api_key_invalid() from exc
        key = decoded.partition(":")[2]
        if not key:
            raise errors.api_key_missing()
        if key != API_KEY:
            raise errors.api_key_invalid()
        return key
    if scheme in ("bearer", "oauth"):
        if value.strip() != OAUTH_TOKEN:
            raise errors.api_key_invalid()
        return OAUTH_TOKEN
    raise errors.api_key_missing()


class ConcurrencyLimit:
    """Counts requests in flight per credential; past the limit a request gets 429."""

    def __init__(self, limit: int = MAX_CONCURRENT_PER_KEY) -> None:
        self.limit = limit
        self.in_flight: Counter[str] = Counter()

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        if self.in_flight[key] >= self.limit:
            raise errors.too_many_requests(
                f"You have exceeded the limit of {self.limit} simultaneous connections."
            )
        self.in_flight[key] += 1
        try:
            yield
        finally:
            self.in_flight[key] -= 1
