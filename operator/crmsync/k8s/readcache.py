"""A read-through memory of objects the API server is asked for again and again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
KEEP_SECONDS = 3600.0
"""Entries not refreshed for this long are dropped (their object or user is gone)."""


@dataclass(frozen=True)
class _Entry(Generic[T]):
    data: T
    read_at: float


class ReadCache(Generic[T]):
    """Objects by namespace and name, each read at most once per ``max_age`` its users
    accept; concurrent reads of one object share one request."""

    def __init__(
        self,
        read: Callable[[str, str], Awaitable[T]],
        clock: Callable[[], float] = time.monotonic,
        copy: Callable[[T], T] = lambda value: value,
    ) -> None:
        self._read = read
        self._clock = clock
        self._copy = copy
        self._entries: dict[tuple[str, str], _Entry[T]] = {}
        self._reading: dict[tuple[str, str], asyncio.Future[T]] = {}
        self._epochs: dict[tuple[str, str], int] = {}
        """Bumped by forget(): a read begun before it must not store its older answer."""

    async def get(self, namespace: str, name: str, max_age: float) -> T:
        """The object, read from the API server only when the entry is missing or older
        than ``max_age``; NotFoundError when it does not exist."""
        entry = self._entries.get((namespace, name))
        if entry is not None and self._clock() - entry.read_at < max_age:
            return self._copy(entry.data)
        return await self.refresh(namespace, name)

    async def refresh(self, namespace: str, name: str) -> T:
        """Read the object now and keep it. Concurrent callers share one read (a hundred
        syncs starting at once cost one request)."""
        key = (namespace, name)
        pending = self._reading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._read_and_keep(key, self._epochs.get(key, 0)))
            self._reading[key] = pending
            pending.add_done_callback(lambda done: self._done(key, done))
        # Shielded: one caller cancelled (its daemon stopped) leaves the read to the others.
        return self._copy(await asyncio.shield(pending))

    def forget(self, namespace: str, name: str) -> None:
        """Drop the entry: the next use reads the object (credentials were refused)."""
        key = (namespace, name)
        self._entries.pop(key, None)
        self._epochs[key] = self._epochs.get(key, 0) + 1
        self._reading.pop(key, None)

    def _done(self, key: tuple[str, str], done: asyncio.Future[T]) -> None:
        if self._reading.get(key) is done:
            del self._reading[key]
        if not done.cancelled():
            done.exception()  # retrieved: every waiter may have gone meanwhile

    def forget_namespace(self, namespace: str) -> None:
        """Drop every entry of the namespace (credentials were refused and which Secret
        held them is not at hand)."""
        for key in [k for k in self._entries if k[0] == namespace]:
            self.forget(*key)

    async def _read_and_keep(self, key: tuple[str, str], epoch: int) -> T:
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
