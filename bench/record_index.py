"""The Zoho Campaigns record index (issue 15.1), sharded vs one ConfigMap: time and bytes.

Pure encoding, no servers. For each size, entries with varied record ids and addresses
(they compress about as badly as real ones), side by side:

- **one ConfigMap** (before 15.1): the whole index gzip'd into one data key, refused above
  960,000 bytes; every save rewrites all of it;
- **sharded** (now): the shards it grows to, their sizes, the time to write them all and
  to read them back, and what a save after one changed entry writes (one shard).

    .venv/bin/python bench/record_index.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).parents[1] / "operator"))
from crmsync.runtime.indexcodec import MAX_SHARD_BYTES, decode_shard, encoded_size
from crmsync.runtime.indexlayout import Layout, merge, plan_writes

T = TypeVar("T")


def entries_of(count: int) -> dict[str, str]:
    rng = random.Random(count)
    return {
        f"Contacts:{rng.getrandbits(60)}": f"{rng.getrandbits(40):x}.{i}@{rng.getrandbits(20):x}.com"
        for i in range(count)
    }


def one_configmap(entries: dict[str, str]) -> int:
    """The encoding before 15.1 (level 9, one data key): its size in bytes."""
    text = "".join(f"{k}\t{e}\n" for k, e in sorted(entries.items()))
    return len(base64.b64encode(gzip.compress(text.encode(), compresslevel=9, mtime=0)))


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def measure(count: int) -> dict[str, str]:
    entries = entries_of(count)
    old_bytes, old_seconds = timed(lambda: one_configmap(entries))
    plan, write_seconds = timed(
        lambda: plan_writes(entries, {}, entries, Layout(), MAX_SHARD_BYTES)
    )
    sizes = [encoded_size(data) for _, data in plan.writes]
    shards, read_seconds = timed(lambda: [decode_shard(n, data) for n, data in plan.writes])
    assert merge(shards)[0] == entries
    layout = Layout(plan.count, {n: plan.count for n in range(plan.count)})
    key = next(iter(entries))
    changed = {**entries, key: "changed@example.com"}
    small, small_seconds = timed(lambda: plan_writes(changed, {}, {key}, layout, MAX_SHARD_BYTES))
    small_bytes = sum(encoded_size(data) for _, data in small.writes)
    fits = "fits" if old_bytes <= MAX_SHARD_BYTES else "refused: over 960,000"
    return {
        "entries": f"{count:,}",
        "one ConfigMap": f"{old_bytes:,} B ({fits}), encoded in {old_seconds:.2f} s",
        "shards": f"{plan.count}, {min(sizes):,}–{max(sizes):,} B each, {sum(sizes):,} B in all",
        "write all / read all": f"{write_seconds:.2f} s / {read_seconds:.2f} s",
        "one entry changed, rewritten": (
            f"one ConfigMap: {old_bytes:,} B; sharded: {len(small.writes)} shard, "
            f"{small_bytes:,} B, planned in {small_seconds:.2f} s"
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    for count in (int(s) for s in args.sizes.split(",")):
        print()
        for label, value in measure(count).items():
            print(f"{label:>30}  {value}")


if __name__ == "__main__":
    main()
