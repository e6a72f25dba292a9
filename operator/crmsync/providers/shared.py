"""Reads that are the account's, not the sync's: one answer shared by every sync of a
Connection for a short while (issue 14: a thousand syncs on four audiences).

A field check reads the audience's merge fields, a run's tags look up the audience's tag
ids, a full run describes the audience for status, a CRM field check reads the module's
fields. Each of those is the same for every sync on that audience or module, and a
thousand syncs started together asked for each a thousand times. Here they are read once
per (account, audience or module) and kept for a short time (:data:`KEEP_SECONDS`); what
this process changes (a field or tag it created) goes into the kept answer at once, so
the next sync sees it; a run that failed drops its audience's answers
(:meth:`AudienceShare.forget`), so a field removed by a person is read again.

Clients of one Connection find their share in :data:`crmsync.providers.accounts.REGISTRY`
(a rotated Secret starts afresh); clients without a Connection (CLI, tests) get their own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from crmsync.api.v1alpha1.status import AudienceView
from crmsync.engine.records import CrmField, CrmRecord
from crmsync.providers.shared_listing import SharedListings

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

KEEP_SECONDS = 60.0
"""How long a shared answer stands (a field or tag made elsewhere is seen after this)."""

VIEW_GATHER_SECONDS = 0.0
"""How long a full run's audience description waits for the runs on the same audience
that end meanwhile, to share one read. None: the run's status is written after it, and
a wait there leaves the members written while lastRun still says Running."""


@dataclass
class _Read(Generic[V]):
    started: float
    """When the read began; ``inf`` while it waits for the one before it to end."""
    loop: asyncio.AbstractEventLoop
    answer: asyncio.Future[V] | None = None


class Recent(Generic[K, V]):
    """One read per key at a time, its answer kept for ``keep`` seconds from its start.

    Callers asking while a read is under way wait for it rather than read again. With
    ``after`` (a :func:`time.monotonic` instant) only a read started at or after it will
    do: a full run that has written asks for a view read since its last write. When the
    read under way began before that, one more is queued behind it, and every caller that
    comes meanwhile waits for that one: many runs ending together cost two reads.
    """

    def __init__(
        self,
        keep: float = KEEP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        gather: float = 0.0,
    ) -> None:
        """``gather``: a read waits this long before it begins, for the callers that come
        meanwhile to share it (they would each need a read of their own otherwise)."""
        self.keep = keep
        self.clock = clock
        self.gather = gather
        self._reads: dict[K, _Read[V]] = {}
        self._queued: dict[K, _Read[V]] = {}

    async def get(self, key: K, read: Callable[[], Awaitable[V]], after: float | None = None) -> V:
        kept = self._usable(key, after)
        if kept is None:
            kept = self._queued.get(key)
            if kept is None or kept.loop is not _running_loop():
                kept = self._start(key, read)
        assert kept.answer is not None
        try:
            # Shielded: one caller cancelled (its sync deleted) does not fail the others.
            return await asyncio.shield(kept.answer)
        except BaseException:
            if kept.answer.done() and self._reads.get(key) is kept:
                del self._reads[key]  # a failed read is not kept
            raise

    def _start(self, key: K, read: Callable[[], Awaitable[V]]) -> _Read[V]:
        loop = asyncio.get_running_loop()
        current = self._reads.get(key)
        if current is None or current.loop is not loop or _done(current):
            current = None
        waits = current is not None or self.gather > 0
        entry: _Read[V] = _Read(math.inf if waits else self.clock(), loop)
        if current is None:
            self._reads[key] = entry
        else:
            self._queued[key] = entry

        async def reading() -> V:
            if current is not None and current.answer is not None:
                await asyncio.wait([current.answer])
            if waits:
                await asyncio.sleep(self.gather)
                entry.started = self.clock()
                if self._queued.get(key) is entry:
                    del self._queued[key]
                self._reads[key] = entry
            return await read()

        entry.answer = loop.create_task(reading())
        return entry

    def put(self, key: K, value: V) -> None:
        """What this process just made the value (a field created): kept as a fresh read."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[V] = loop.create_future()
        answer.set_result(value)
        self._reads[key] = _Read(self.clock(), loop, answer)

    def peek(self, key: K) -> V | None:
        """The kept answer when there is a fresh one, without reading."""
        kept = self._usable(key, None)
        if kept is None or kept.answer is None or not _done(kept):
            return None
        return None if kept.answer.exception() else kept.answer.result()

    def forget(self, key: K) -> None:
        self._reads.pop(key, None)
        self._queued.pop(key, None)

    def _usable(self, key: K, after: float | None) -> _Read[V] | None:
        kept = self._reads.get(key)
        if kept is None or kept.answer is None or kept.loop is not _running_loop():
            return None
        if after is not None and kept.started < after:
            return None
        if _done(kept) and (
            kept.answer.cancelled()
            or kept.answer.exception() is not None
            or self.clock() - kept.started >= self.keep
        ):
            return None
        return kept

    def __len__(self) -> int:
        return len(self._reads)


def _done(read: _Read[V]) -> bool:
    return read.answer is not None and read.answer.done()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@dataclass
class AudienceShare:
    """A Mailchimp account's audiences as its syncs share them."""

    fields: Recent[str, frozenset[str]] = field(default_factory=Recent)
    """Merge field tags by audience."""
    tags: Recent[str, dict[str, int]] = field(default_factory=Recent)
    """Static segment (tag) ids by name, by audience; tags created here are added."""
    views: Recent[tuple[str, int], AudienceView] = field(
        default_factory=lambda: Recent(gather=VIEW_GATHER_SECONDS)
    )
    """The audience described for status: only a read started after the asking run's
    writes is shared (``after``), never an older one."""

    creating: dict[str, asyncio.Lock] = field(default_factory=dict)
    """Fields and tags are created one at a time per audience: never twice."""

    def forget(self, audience: str) -> None:
        self.fields.forget(audience)
        self.tags.forget(audience)

    def creating_in(self, audience: str) -> asyncio.Lock:
        return self.creating.setdefault(audience, asyncio.Lock())


@dataclass
class ModuleShare:
    """A Zoho CRM account's module metadata as its syncs share it."""

    fields: Recent[str, tuple[CrmField, ...]] = field(default_factory=Recent)
    """Not the module's record count: a count a minute old misses an import, and the
    read-cost choice it makes (push the criteria down or read it all) goes wrong."""
    listings: SharedListings[list[CrmRecord], tuple[dict[str, Any], int]] = field(
        default_factory=SharedListings
    )
    """Whole listings under way, joined by the runs that start one together."""
