"""Secrets served from memory: every pass of every sync needs its Connections' Secrets, the
API server is asked once per Secret and freshness period.

Kept fresh without a watch: the operator may get Secrets but not list them, and a watch
grant would show every Secret of the cluster (a watch starts by sending each existing
object). Instead each Connection's timer reads its Secret anew (:meth:`SecretCache.refresh`,
every 30 s), a verification reads anew, a refused credential drops the entry
(:meth:`SecretCache.forget`), and each use says how old an entry it takes: a run writes to
a vendor with credentials read for it (:data:`FOR_RUN_SECONDS`: a changed Secret takes
effect at the next run), everything else (idle passes,
channel checks, notification routing) with what the timer last read.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from crmsync.k8s.readcache import ReadCache

SecretData = tuple[dict[str, str], str]
"""A Secret's decoded data and its resourceVersion."""
Reader = Callable[[str, str], Awaitable[SecretData]]

MAX_AGE_SECONDS = 120.0
"""Credentials a Connection's timer has not refreshed are read again after this long."""
FOR_RUN_SECONDS = 0.0
"""A run reads its credentials anew (a Secret changed just before is the one it uses);
runs starting together (a notification wakes many) share the one read in flight."""


def _copy(data: SecretData) -> SecretData:
    return dict(data[0]), data[1]  # callers may change theirs


class SecretCache(ReadCache[SecretData]):
    def __init__(self, read: Reader, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(read, clock, _copy)

    async def get(self, namespace: str, name: str, max_age: float = MAX_AGE_SECONDS) -> SecretData:
        """The Secret's decoded data and resourceVersion, at most ``max_age`` seconds old."""
        return await super().get(namespace, name, max_age)
