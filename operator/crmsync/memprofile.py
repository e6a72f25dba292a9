"""Memory profiling for benchmarks, off unless asked for by the environment.

- ``CRMSYNC_TRACEMALLOC=DIR`` traces allocations from the start; each SIGUSR1 dumps a
  tracemalloc snapshot to ``DIR/snapshot-N.pickle`` (``bench/memory_top.py`` reads them).
  Slow: for a few dozen syncs.
- ``CRMSYNC_MEMCENSUS=DIR``: each SIGUSR1 writes ``DIR/census-N.json``, the live objects
  the garbage collector knows, counted and sized by type (cheap enough for a thousand
  syncs; ``bench/memory_top.py --census`` compares two).
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import signal
import sys
import tracemalloc
from collections import Counter
from pathlib import Path
from types import FrameType

TRACE_ENV = "CRMSYNC_TRACEMALLOC"
CENSUS_ENV = "CRMSYNC_MEMCENSUS"
FRAMES = 6
"""Frames kept per allocation: enough to see which of our calls kopf or pydantic made it for."""


def start_from_env() -> None:
    tracing, census = os.environ.get(TRACE_ENV, ""), os.environ.get(CENSUS_ENV, "")
    if not tracing and not census:
        return
    folder = Path(tracing or census)
    folder.mkdir(parents=True, exist_ok=True)
    if tracing:
        tracemalloc.start(FRAMES)
    numbers = itertools.count(1)

    def dump(_signum: int, _frame: FrameType | None) -> None:
        number = next(numbers)
        if tracing:
            tracemalloc.take_snapshot().dump(str(folder / f"snapshot-{number}.pickle"))
        else:
            written = folder / f"census-{number}.json.tmp"
            written.write_text(json.dumps(objects_by_type()))
            written.rename(folder / f"census-{number}.json")

    signal.signal(signal.SIGUSR1, dump)


def objects_by_type() -> dict[str, list[int]]:
    """``{type name: [count, bytes]}`` of the objects the garbage collector tracks, and of
    the strings and numbers directly in them (not tracked themselves)."""
    gc.collect()
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    seen: set[int] = set()
    for obj in gc.get_objects():
        for item in (obj, *gc.get_referents(obj)):
            if id(item) in seen or (item is not obj and gc.is_tracked(item)):
                continue
            seen.add(id(item))
            name = type(item).__qualname__
            counts[name] += 1
            sizes[name] += sys.getsizeof(item)
    return {name: [counts[name], sizes[name]] for name in counts}
