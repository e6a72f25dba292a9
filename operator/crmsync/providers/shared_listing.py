"""A module's whole listing read once for the runs that start it together (issue 14).

A thousand syncs on one Connection whose criteria the CRM cannot filter by (a textarea)
each read the whole module on their first run: a thousand times the same pages, the reads
growing with the square of the number of syncs. Here a full listing is one stream of pages
that every run asking for the same module and fields joins while its first page is still
unanswered; each reader gets every page, in order, and filters them itself.

Why joining is safe: the listing is sorted by modification time, and a joiner starts
before the first page is answered. A record changed before the joiner started is either
answered in that first page as changed, or (its modification time now later) in a page
read after it; nothing changed before the joiner's start can be missed that its own
listing would have seen.

Memory stays flat: a page is dropped once every reader has it, and the next page is read
only when the slowest reader is at most :data:`WINDOW` pages behind, so readers of one
listing move together.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P")
C = TypeVar("C")

WINDOW = 4
"""Pages a reader may be ahead of the slowest reader of its listing."""

Fetch = Callable[[C], Awaitable[tuple[P, C | None]]]
"""Reads the page at a cursor: the page and the next page's cursor, None after the last."""


@dataclass
class _Listing(Generic[P, C]):
    cursor: C
    loop: asyncio.AbstractEventLoop
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    pages: dict[int, P] = field(default_factory=dict)
    answered: int = 0
    """Pages read so far."""
    finished: bool = False
    fetching: bool = False
    error: BaseException | None = None
    positions: dict[int, int] = field(default_factory=dict)
    """Each reader's next page."""

    def slowest(self) -> int:
        return min(self.positions.values(), default=self.answered)

    def drop_read_pages(self) -> None:
        for index in [i for i in self.pages if i < self.slowest()]:
            del self.pages[index]


class SharedListings(Generic[P, C]):
    """The listings of one account under way, by what they read."""

    def __init__(self) -> None:
        self._joinable: dict[Hashable, _Listing[P, C]] = {}
        self._readers = itertools.count()
        self.listings = 0
        """Listings started (the rest of the asks joined one)."""

    async def pages(self, key: Hashable, first: C, fetch: Fetch[C, P]) -> AsyncGenerator[P]:
        """Every page of the listing of ``key`` from its start: a listing under way whose
        first page is unanswered is joined, else one starts at cursor ``first``."""
        loop = asyncio.get_running_loop()
        listing = self._joinable.get(key)
        if listing is None or listing.loop is not loop or listing.answered or listing.error:
            listing = _Listing(first, loop)
            self._joinable[key] = listing
            self.listings += 1
        reader = next(self._readers)
        listing.positions[reader] = 0
        try:
            while True:
                page = await self._next(key, listing, reader, fetch)
                if page is None:
                    return
                yield page[0]
        finally:
            listing.positions.pop(reader, None)
            listing.drop_read_pages()
            async with listing.changed:
                listing.changed.notify_all()

    async def _next(
        self, key: Hashable, listing: _Listing[P, C], reader: int, fetch: Fetch[C, P]
    ) -> tuple[P] | None:
        """The reader's next page (in a tuple: a page may be falsy), None after the last."""
        while True:
            async with listing.changed:
                index = listing.positions[reader]
                while True:
                    if index in listing.pages:
                        listing.positions[reader] = index + 1
                        page = listing.pages[index]
                        listing.drop_read_pages()
                        listing.changed.notify_all()
                        return (page,)
                    if listing.error is not None:
                        raise listing.error
                    if listing.finished:
                        return None
                    may_read = listing.slowest() >= listing.answered - WINDOW
                    if not listing.fetching and index == listing.answered and may_read:
                        listing.fetching = True
                        break
                    await listing.changed.wait()
            await self._fetch(key, listing, fetch)

    async def _fetch(self, key: Hashable, listing: _Listing[P, C], fetch: Fetch[C, P]) -> None:
        try:
            page, cursor = await fetch(listing.cursor)
        except asyncio.CancelledError:
            # This reader went away (its sync deleted): another one reads the page.
            listing.fetching = False
            async with listing.changed:
                listing.changed.notify_all()
            raise
        except BaseException as exc:
            listing.error = exc
            listing.fetching = False
            self._close(key, listing)
            async with listing.changed:
                listing.changed.notify_all()
            raise
        async with listing.changed:
            listing.pages[listing.answered] = page
            listing.answered += 1
            listing.fetching = False
            if cursor is None:
                listing.finished = True
            else:
                listing.cursor = cursor
            self._close(key, listing)
            listing.changed.notify_all()

    def _close(self, key: Hashable, listing: _Listing[P, C]) -> None:
        """No one joins a listing once its first page is answered."""
        if self._joinable.get(key) is listing:
            del self._joinable[key]
