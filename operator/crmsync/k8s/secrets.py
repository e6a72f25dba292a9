"""Secrets served from memory: every pass of every sync needs its Connections' Secrets, the
API server is asked once per Secret and freshness period.

Kept fresh without a watch: the operator may get Secrets but not list them, and a watch
grant would show every Secret of the cluster (a watch starts by sending each existing
object). Instead each Connection's timer reads its Secret anew (:meth:`SecretCache.refresh`,
every 30 s), a verification reads anew, a refused credential drops the entry
(:meth:`SecretCache.forget`), and each use says how old an entry it takes: a run writes to
a vendor with credentials read at most :data:`FOR_RUN_SECONDS` earlier (a changed Secret
takes effect at the next run, as when every run read it), everything else (idle passes,
channel checks, notification routing) with what the timer last read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

SecretData = tuple[dict[str, str], str]
"""A Secret's decoded data and its resourceVersion."""
Reader = Callable[[str, str], Awaitable[SecretData]]

MAX_AGE_SECONDS = 120.0
"""Credentials a Connection's timer has not refreshed are read again after this long."""
FOR_RUN_SECONDS = 2.0
"""A run's credentials are at most this old: one read per Secret and 2 s however many
syncs of its Connection start runs (a notification wakes them together)."""
KEEP_SECONDS = 3600.0
"""Entries not refreshed for this long are dropped (their Connection or sync is gone)."""


@dataclass(frozen=True)
class _Entry:
    data: SecretData
    read_at: float


class SecretCache:
    def __init__(self, read: Reader, clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._reading: dict[tuple[str, str], asyncio.Future[SecretData]] = {}
        self._epochs: dict[tuple[str, str], int] = {}
        """Bumped by forget(): a read begun before it must not store its older answer."""

    async def get(self, namespace: str, name: str, max_age: float = MAX_AGE_SECONDS) -> SecretData:
        """The Secret's data and version, read from the API server only when the entry is
        missing or older than ``max_age``; NotFoundError when it does not exist."""
        entry = self._entries.get((namespace, name))
        if entry is not None and self._clock() - entry.read_at < max_age:
            data, version = entry.data
            return dict(data), version
        return await self.refresh(namespace, name)

    async def refresh(self, namespace: str, name: str) -> SecretData:
        """Read the Secret now and keep it. Concurrent callers share one read (a hundred
        syncs starting at once cost one request)."""
        key = (namespace, name)
        pending = self._reading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._read_and_keep(key, self._epochs.get(key, 0)))
            self._reading[key] = pending
            pending.add_done_callback(lambda done: self._done(key, done))
        # Shielded: one caller cancelled (its daemon stopped) leaves the read to the others.
        data, version = await asyncio.shield(pending)
        return dict(data), version

    def forget(self, namespace: str, name: str) -> None:
        """Drop the entry: the next use reads the Secret (credentials were refused)."""
        key = (namespace, name)
        self._entries.pop(key, None)
        self._epochs[key] = self._epochs.get(key, 0) + 1
        self._reading.pop(key, None)

    def _done(self, key: tuple[str, str], done: asyncio.Future[SecretData]) -> None:
        if self._reading.get(key) is done:
            del self._reading[key]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone meanwhile

    def forget_namespace(self, namespace: str) -> None:
        """Drop every entry of the namespace (credentials were refused and which Secret
        held them is not at hand)."""
        for key in [k for k in self._entries if k[0] == namespace]:
            self.forget(*key)

    async def _read_and_keep(self, key: tuple[str, str], epoch: int) -> SecretData:
        try:
            data = await self._read(*key)
        except LookupError:
            self._entries.pop(key, None)  # deleted: never served from memory
            raise
        if self._epochs.get(key, 0) == epoch:
            now = self._clock()
            self._entries[key] = _Entry(data, now)
            self._sweep(now)
        return data

    def _sweep(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if now - e.read_at > KEEP_SECONDS]:
            del self._entries[key]
            self._epochs.pop(key, None)
