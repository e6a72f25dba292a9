"""How the record index spreads over its shards: which to read, how shards written for
different layouts combine, and which to write after a run.

The layout grows, never shrinks: when a shard to be written would not fit
(:func:`~crmsync.runtime.indexcodec.shard_limit`), the shard count is multiplied by a power
of two and every shard is written again — the new ones first, shard 0 (which tells readers
the count) last. A crash in between leaves shards of both layouts; a reader takes each key
from the shard of the largest layout it read that covers the key, so nothing is lost and
nothing removed comes back, and the next save completes the change.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from crmsync.runtime.indexcodec import (
    MAX_SHARDS,
    Shard,
    encode_shard,
    encoded_size,
    key_hash,
    shard_of,
)


class RecordIndexFullError(ValueError):
    """The index would not fit in :data:`MAX_SHARDS` ConfigMaps."""


@dataclass
class Layout:
    count: int = 1
    stored: dict[int, int] = field(default_factory=dict)
    """Shard number → the count it was last read or written with (0: unreadable)."""

    def stale(self) -> set[int]:
        """Shards to write again: from an unfinished growth, or unreadable."""
        return {n for n, count in self.stored.items() if count != self.count}


def to_read(read: Mapping[int, Shard]) -> list[int]:
    """Shard numbers still to read, given those read. Shard 0 names the count; a larger one
    in another shard means a growth was cut off."""
    count = max((s.count for s in read.values()), default=1)
    return [n for n in range(count) if n not in read]


def merge(shards: Iterable[Shard]) -> tuple[dict[str, str], dict[str, str]]:
    """Entries and removal marks of the whole index."""
    shards = list(shards)
    present = {(s.number, s.count) for s in shards}
    counts = sorted({s.count for s in shards})
    entries: dict[str, str] = {}
    removed: dict[str, str] = {}
    for shard in shards:
        larger = [c for c in counts if c > shard.count]
        for source, target in ((shard.entries, entries), (shard.removed, removed)):
            for key, email in source.items():
                if not larger or not _covered(key, larger, present):
                    target[key] = email
    return entries, removed


def _covered(key: str, counts: list[int], present: Collection[tuple[int, int]]) -> bool:
    """Whether a shard of a larger layout, which decides the key, was read."""
    hashed = key_hash(key)
    return any((hashed & (c - 1), c) in present for c in counts)


def layout_of(read: Mapping[int, Shard], broken: Collection[int] = ()) -> Layout:
    """``broken``: shards missing or unreadable (read as empty), to be written again."""
    count = max((s.count for s in read.values()), default=1)
    return Layout(count, {n: 0 if n in broken else s.count for n, s in read.items()})


def split(
    entries: Mapping[str, str], removed: Mapping[str, str], count: int, numbers: Collection[int]
) -> dict[int, Shard]:
    """Shards ``numbers`` of the layout of ``count`` shards."""
    shards = {n: Shard(n, count) for n in numbers}
    mask, crc32 = count - 1, zlib.crc32  # shard_of, inlined: this loop sees every entry
    for key, email in entries.items():
        if shard := shards.get(crc32(key.encode()) & mask):
            shard.entries[key] = email
    for key, email in removed.items():
        if shard := shards.get(crc32(key.encode()) & mask):
            shard.removed[key] = email
    return shards


@dataclass(frozen=True)
class Plan:
    count: int
    writes: list[tuple[int, dict[str, str]]]
    """(shard number, ConfigMap data), in the order to write them: shard 0 last."""


def plan_writes(
    entries: Mapping[str, str],
    removed: Mapping[str, str],
    changed: Iterable[str],
    layout: Layout,
    limit: int,
) -> Plan:
    """The shards to write: those holding a changed key and the stale ones, or all of them
    in a larger layout when one would not fit."""
    count = layout.count
    dirty = layout.stale() | {shard_of(key, count) for key in changed}
    while True:
        encoded = {n: encode_shard(s) for n, s in split(entries, removed, count, dirty).items()}
        largest = max((encoded_size(data) for data in encoded.values()), default=0)
        if largest <= limit:
            return Plan(count, [(n, encoded[n]) for n in sorted(encoded, reverse=True)])
        count *= max(2, 1 << math.ceil(math.log2(largest / limit)))
        if count > MAX_SHARDS:
            raise RecordIndexFullError(
                f"{len(entries)} entries need more than {MAX_SHARDS} shards of {limit} bytes"
            )
        dirty = set(range(count))
