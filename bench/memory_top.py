"""What the operator kept between two allocation snapshots (``many_syncs.py --tracemalloc``)
or two object censuses (``many_syncs.py --census``).

    .venv/bin/python bench/memory_top.py DIR/snapshot-1.pickle DIR/snapshot-2.pickle [--syncs N]
    .venv/bin/python bench/memory_top.py DIR/census-1.json DIR/census-2.json [--syncs N]

Snapshots: the lines whose kept memory grew most (by the deepest frames in our code, kopf
or pydantic, so a dict made for a sync names who made it). Censuses: the types whose live
objects grew most. Per sync when ``--syncs`` is given.
"""

from __future__ import annotations

import argparse
import json
import tracemalloc
from collections import Counter
from pathlib import Path

OURS = ("crmsync", "kopf", "pydantic", "httpx", "httpcore", "asyncio", "logging")


def where(trace: tracemalloc.Traceback, deep: int) -> str:
    """The innermost ``deep`` frames in code we can name (not the stdlib's dict internals)."""
    named = [f for f in trace if any(f"/{part}/" in f.filename for part in OURS)]
    frames = (named or list(trace))[-deep:] if trace else []
    return " < ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--syncs", type=int, default=0)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--frames", type=int, default=3, help="frames shown per line")
    args = parser.parse_args()
    grown: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for snap, sign in ((args.before, -1), (args.after, 1)):
        if snap.suffix == ".json":
            for name, (count, size) in json.loads(snap.read_text()).items():
                grown[name] += sign * size
                counts[name] += sign * count
            continue
        for stat in tracemalloc.Snapshot.load(str(snap)).statistics("traceback"):
            key = where(stat.traceback, args.frames)
            grown[key] += sign * stat.size
            counts[key] += sign * stat.count
    total = sum(grown.values())
    per = max(args.syncs, 1)
    print(
        f"kept: {total / 2**20:.1f} MiB"
        + (f", {total / per / 1024:.1f} KiB a sync" if args.syncs else "")
    )
    for key, size in grown.most_common(args.top):
        print(f"{size / per / 1024:9.1f} KiB {counts[key] / per:8.1f} blocks  {key}")


if __name__ == "__main__":
    main()
