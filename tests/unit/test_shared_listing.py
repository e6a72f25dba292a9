"""Whole listings read once for the runs that start them together (issue 14)."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from crmsync.providers.shared_listing import WINDOW, SharedListings


class Module:
    """A listing of ``pages`` pages; each read waits for ``gate`` when one is set."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.reads: list[int] = []
        self.gate: asyncio.Event | None = None
        self.fail_at: int | None = None

    async def fetch(self, cursor: int) -> tuple[list[str], int | None]:
        self.reads.append(cursor)
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        if cursor == self.fail_at:
            raise OSError("CRM down")
        page = [f"r{cursor}-{i}" for i in range(3)]
        return page, (cursor + 1 if cursor + 1 < self.pages else None)


async def read_all(listings: SharedListings[list[str], int], module: Module) -> list[str]:
    out: list[str] = []
    async with aclosing(listings.pages("Contacts", 0, module.fetch)) as pages:
        async for page in pages:
            out += page
            await asyncio.sleep(0)
    return out


async def test_runs_starting_together_read_each_page_once_and_get_all_of_it() -> None:
    listings: SharedListings[list[str], int] = SharedListings()
    module = Module(pages=10)
    results = await asyncio.gather(*(read_all(listings, module) for _ in range(50)))
    expected = [f"r{p}-{i}" for p in range(10) for i in range(3)]
    assert all(r == expected for r in results)
    assert module.reads == list(range(10))
    assert listings.listings == 1


async def test_a_run_after_the_first_page_was_answered_reads_its_own() -> None:
    listings: SharedListings[list[str], int] = SharedListings()
    module = Module(pages=3)
    first = listings.pages("Contacts", 0, module.fetch)
    assert await anext(first) == ["r0-0", "r0-1", "r0-2"]
    late = await read_all(listings, module)
    assert late[:3] == ["r0-0", "r0-1", "r0-2"] and len(late) == 9
    rest = [page async for page in first]
    assert len(rest) == 2
    assert listings.listings == 2
    assert module.reads.count(0) == 2


async def test_a_slow_reader_holds_the_others_within_the_window() -> None:
    listings: SharedListings[list[str], int] = SharedListings()
    module = Module(pages=40)
    slow_may_read = asyncio.Event()
    fast_done: list[str] = []

    async def fast() -> None:
        fast_done.extend(await read_all(listings, module))

    async def slow() -> list[str]:
        out: list[str] = []
        async with aclosing(listings.pages("Contacts", 0, module.fetch)) as pages:
            async for page in pages:
                out += page
                if len(out) == 3:
                    await slow_may_read.wait()
        return out

    slow_task = asyncio.create_task(slow())
    fast_task = asyncio.create_task(fast())
    for _ in range(200):
        await asyncio.sleep(0)
    # The slow reader has one page: the fast one may be WINDOW pages past it, no more.
    assert len(module.reads) <= WINDOW + 2
    assert not fast_done
    slow_may_read.set()
    await fast_task
    assert len(await slow_task) == len(fast_done) == 120
    assert module.reads == list(range(40))


async def test_a_failed_read_fails_every_reader_and_the_next_run_starts_afresh() -> None:
    listings: SharedListings[list[str], int] = SharedListings()
    module = Module(pages=5)
    module.fail_at = 2
    results = await asyncio.gather(
        *(read_all(listings, module) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)
    module.fail_at = None
    assert len(await read_all(listings, module)) == 15
    assert listings.listings == 2


async def test_a_reader_cancelled_while_it_reads_leaves_the_page_to_another() -> None:
    listings: SharedListings[list[str], int] = SharedListings()
    module = Module(pages=3)
    module.gate = asyncio.Event()
    leader = asyncio.create_task(read_all(listings, module))
    await asyncio.sleep(0)
    follower = asyncio.create_task(read_all(listings, module))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    module.gate.set()
    assert len(await follower) == 9


async def test_a_reader_that_stops_early_does_not_hold_the_others() -> None:
    listings: SharedListings[list[str], int] = SharedListings()
    module = Module(pages=20)

    async def first_page_only() -> None:
        async with aclosing(listings.pages("Contacts", 0, module.fetch)) as pages:
            async for _ in pages:
                return

    _, everything = await asyncio.gather(first_page_only(), read_all(listings, module))
    assert len(everything) == 60
