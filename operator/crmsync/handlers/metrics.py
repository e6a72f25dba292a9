"""Watch events → the status-derived gauges (resources by condition, lag, checkpoints).

Not filtered by shard: an object outside this instance's shard (one that just moved to
another shard, too) is dropped from its gauges, so each object is exported by one
instance only."""

from __future__ import annotations

from typing import Any

import kopf

from crmsync import metrics
from crmsync.api.v1alpha1 import GROUP, VERSION
from crmsync.sharding import in_shard, shard_of


def _gone(event: kopf.RawEvent, body: kopf.Body) -> bool:
    return event.get("type") == "DELETED" or not in_shard(shard_of(body))


@kopf.on.event(GROUP, VERSION, "contactsyncs")
async def contactsync_seen(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    metrics.observe_object("contactsyncs", body, deleted=_gone(event, body))


@kopf.on.event(GROUP, VERSION, "connections")
async def connection_seen(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    metrics.observe_object("connections", body, deleted=_gone(event, body))
