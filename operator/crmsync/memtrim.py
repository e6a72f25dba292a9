"""Freed memory handed back to the system.

glibc keeps memory that Python freed (response bodies, watch events, a burst of runs)
in its heap for reuse; after a thousand syncs have started, most of that heap is free
but still counts in the operator's RSS. ``malloc_trim(0)`` returns the free pages; it
is called every TRIM_SECONDS (a few milliseconds each). Elsewhere than glibc, nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable

TRIM_SECONDS = 30.0
log = logging.getLogger("crmsync.memtrim")


def glibc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or None where there is none."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


async def trim_forever(every: float = TRIM_SECONDS) -> None:
    trim = glibc_trim()
    if trim is None:
        log.debug("no malloc_trim here: freed memory stays with the allocator")
        return
    while True:
        await asyncio.sleep(every)
        trim()
