"""Watch events → the status-derived gauges (resources by condition, lag, checkpoints).

Each object is exported by the instance of its shard only: an object that leaves this
instance's shard (relabelled) is seen once more, to drop it from the gauges."""

from __future__ import annotations

from typing import Any

import kopf

from crmsync import metrics
from crmsync.api.v1alpha1 import GROUP, VERSION
from crmsync.sharding import in_shard, shard_of

_exported: set[tuple[str, str, str]] = set()


def _key(plural: str, body: kopf.Body) -> tuple[str, str, str]:
    return plural, str(body.metadata.namespace), str(body.metadata.name)


def _watched(plural: str) -> Any:
    def when(body: kopf.Body, **_: Any) -> bool:
        return in_shard(shard_of(body)) or _key(plural, body) in _exported

    return when


def _observe(plural: str, event: kopf.RawEvent, body: kopf.Body) -> None:
    gone = event.get("type") == "DELETED" or not in_shard(shard_of(body))
    if gone:
        _exported.discard(_key(plural, body))
    else:
        _exported.add(_key(plural, body))
    metrics.observe_object(plural, body, deleted=gone)


@kopf.on.event(GROUP, VERSION, "contactsyncs", when=_watched("contactsyncs"))
async def contactsync_seen(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    _observe("contactsyncs", event, body)


@kopf.on.event(GROUP, VERSION, "connections", when=_watched("connections"))
async def connection_seen(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    _observe("connections", event, body)
