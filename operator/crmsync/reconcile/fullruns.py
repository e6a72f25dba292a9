"""How many full runs (initial loads, full resyncs) this process carries out at once.

A thousand syncs created together, or an operator restarted under them, would otherwise
all start their full run at the same moment, each holding its vendor clients, the
records and members it has read and its pending writes until the Connection's request
budget lets it through; that budget (a few requests in flight per account) is what
limits how fast they finish. Full runs beyond FULL_RUNS_AT_ONCE wait their turn before
reading anything: the same throughput, runs that each finish sooner, and memory that no
longer grows with the number of syncs started together. Incremental runs (polls,
notifications, sync-now) never wait for a turn: instant stays instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from contextlib import AbstractAsyncContextManager

FULL_RUNS_AT_ONCE = 32
"""Well above the in-flight budget of several Connections together (5 requests each by
default), far below a thousand syncs."""

_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def run_turn(full: bool) -> AbstractAsyncContextManager[object]:
    """Held for the whole of a full run; nothing to wait for otherwise."""
    if not full:
        return contextlib.nullcontext()
    loop = asyncio.get_running_loop()
    turns = _TURNS.get(loop)
    if turns is None:
        turns = _TURNS[loop] = asyncio.Semaphore(FULL_RUNS_AT_ONCE)
    return turns
