"""Memory profiling for benchmarks: ``CRMSYNC_TRACEMALLOC=DIR`` traces allocations from
the start, and each SIGUSR1 dumps a tracemalloc snapshot to ``DIR/snapshot-N.pickle``
(read them with ``bench/memory_top.py``). Off unless the variable is set."""

from __future__ import annotations

import itertools
import os
import signal
import tracemalloc
from pathlib import Path
from types import FrameType

ENV = "CRMSYNC_TRACEMALLOC"
FRAMES = 6
"""Frames kept per allocation: enough to see which of our calls kopf or pydantic made it for."""


def start_from_env() -> None:
    where = os.environ.get(ENV, "")
    if not where:
        return
    folder = Path(where)
    folder.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(FRAMES)
    numbers = itertools.count(1)

    def dump(_signum: int, _frame: FrameType | None) -> None:
        tracemalloc.take_snapshot().dump(str(folder / f"snapshot-{next(numbers)}.pickle"))

    signal.signal(signal.SIGUSR1, dump)
