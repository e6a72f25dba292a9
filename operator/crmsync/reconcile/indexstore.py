"""The record index (:mod:`crmsync.runtime.recordindex`) in its ConfigMaps: read every
shard, write the changed ones."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from crmsync.k8s.api import KubeApi
from crmsync.k8s.logs import Logger
from crmsync.runtime.indexcodec import (
    Shard,
    configmap_name,
    decode_shard,
    shard_count,
    shard_limit,
)
from crmsync.runtime.indexlayout import plan_writes, to_read
from crmsync.runtime.recordindex import RecordIndex


async def load_index(
    kube: KubeApi, namespace: str, sync_name: str, logger: Logger | None = None
) -> RecordIndex:
    """Empty when there is none yet. A shard missing or unreadable reads as empty and is
    written again at the next save; its entries come back with the next full comparison."""
    read: dict[int, Shard] = {}
    broken: set[int] = set()

    async def fetch(number: int) -> None:
        name = configmap_name(sync_name, number)
        try:
            data = await kube.get_configmap(namespace, name)
        except LookupError:
            if number == 0:
                raise
            broken.add(number)
            read[number] = Shard(number, count=1)
            return
        try:
            read[number] = decode_shard(number, data)
        except (ValueError, OSError) as exc:
            if logger is not None:
                logger.warning("record index %s unreadable, starting it afresh: %s", name, exc)
            broken.add(number)
            count = 1  # the layout it names, if that much is readable: the others still count
            with contextlib.suppress(ValueError):
                count = shard_count(data)
            read[number] = Shard(number, count if number < count else 1)

    try:
        await fetch(0)
    except LookupError:
        return RecordIndex()
    while wanted := to_read(read):
        await asyncio.gather(*map(fetch, wanted))
    return RecordIndex.from_shards(read, broken)


async def save_index(kube: KubeApi, owner: dict[str, Any], index: RecordIndex) -> None:
    """The changed shards, shard 0 last (it names the count readers go by). Raises
    :class:`~crmsync.runtime.indexlayout.RecordIndexFullError` before writing anything."""
    meta = owner["metadata"]
    # The run goes on meanwhile (a growth encodes every shard: seconds for a million
    # members), so the plan works on a copy and later changes wait for the next save.
    changed = set(index.changed)
    plan = await asyncio.to_thread(
        plan_writes,
        dict(index.entries),
        dict(index.removed),
        changed,
        index.layout,
        shard_limit(),
    )
    for number, data in plan.writes:
        name = configmap_name(meta["name"], number)
        await kube.apply_configmap(meta["namespace"], name, data, owner)
        index.layout.stored[number] = plan.count
    index.layout.count = plan.count
    index.changed -= changed
