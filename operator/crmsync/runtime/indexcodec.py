"""One shard of the record index as ConfigMap data, and which shard a record key belongs to.

A shard holds ``Module:recordId<TAB>email`` lines (and ``!``-marked ones for the operator's
own removals), sorted, gzip-compressed, base64 in one data key, plus ``shards``: how many
shards the index had when this one was written. The index of releases before sharding is
one ConfigMap without ``shards``: it reads as shard 0 of 1.
"""

from __future__ import annotations

import base64
import gzip
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

DATA_KEY = "index.tsv.gz.b64"
COUNT_KEY = "shards"
ENTRIES_KEY = "entries"
REMOVED_MARK = "!"
"""Prefix of the lines of members the operator itself took off the list."""
MAX_SHARD_BYTES = 960_000
"""Below the ConfigMap limit (1 MiB for all of its data), leaving room for metadata."""
MAX_SHARDS = 1024
"""About 25 million members with varied addresses at the default shard size."""
SHARD_BYTES_ENV = "CRMSYNC_RECORD_INDEX_SHARD_BYTES"
"""Lowers :data:`MAX_SHARD_BYTES`, so that tests spread a few dozen members over shards."""


def shard_limit() -> int:
    return int(os.environ.get(SHARD_BYTES_ENV) or MAX_SHARD_BYTES)


def configmap_name(sync_name: str, number: int = 0) -> str:
    """Shard 0 keeps the name of the single-ConfigMap index."""
    base = f"{sync_name}-record-index"
    return base if number == 0 else f"{base}-{number}"


def key_hash(key: str) -> int:
    """Stable across processes and releases (``hash()`` is salted per process)."""
    return zlib.crc32(key.encode())


def shard_of(key: str, count: int) -> int:
    """``count`` is a power of two, so doubling it keeps a key in shard n or moves it to
    n + count: each shard of the old layout splits into two of the new one."""
    return key_hash(key) & (count - 1)


@dataclass
class Shard:
    number: int
    count: int
    """Shards in the layout this one was written for."""
    entries: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)


def encode_shard(shard: Shard) -> dict[str, str]:
    entries, removed = shard.entries, shard.removed
    text = "".join([f"{k}\t{entries[k]}\n" for k in sorted(entries)])
    text += "".join([f"{REMOVED_MARK}{k}\t{removed[k]}\n" for k in sorted(removed)])
    # Level 6: half the time of 9 for 1 % more bytes; a growth encodes every shard at once.
    packed = base64.b64encode(gzip.compress(text.encode(), compresslevel=6, mtime=0))
    return {
        DATA_KEY: packed.decode(),
        COUNT_KEY: str(shard.count),
        ENTRIES_KEY: str(len(shard.entries)),
    }


def encoded_size(data: Mapping[str, str]) -> int:
    return sum(len(k) + len(v) for k, v in data.items())


def shard_count(data: Mapping[str, str]) -> int:
    """The layout a shard was written for; ValueError unless a power of two up to
    :data:`MAX_SHARDS`."""
    count = int(data.get(COUNT_KEY) or 1)
    if count < 1 or count & (count - 1) or count > MAX_SHARDS:
        raise ValueError(f"{COUNT_KEY}={count} is not a power of two up to {MAX_SHARDS}")
    return count


def decode_shard(number: int, data: Mapping[str, str]) -> Shard:
    """ValueError (or OSError, from gzip) when the data is not a shard's."""
    count = shard_count(data)
    if number >= count:
        raise ValueError(f"shard {number} of a layout of {count}")
    shard = Shard(number, count)
    raw = data.get(DATA_KEY, "")
    if not raw:
        return shard
    for line in gzip.decompress(base64.b64decode(raw)).decode().splitlines():
        key, sep, email = line.partition("\t")
        if sep and key and email:
            if key.startswith(REMOVED_MARK):
                shard.removed[key[len(REMOVED_MARK) :]] = email
            else:
                shard.entries[key] = email
    return shard
