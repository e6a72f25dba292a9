"""Watch events → the status-derived gauges (resources by condition, lag, checkpoints)."""

from __future__ import annotations

from typing import Any

import kopf

from crmsync import metrics
from crmsync.api.v1alpha1 import GROUP, VERSION


@kopf.on.event(GROUP, VERSION, "contactsyncs")
async def contactsync_seen(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    metrics.observe_object("contactsyncs", body, deleted=event.get("type") == "DELETED")


@kopf.on.event(GROUP, VERSION, "connections")
async def connection_seen(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
    metrics.observe_object("connections", body, deleted=event.get("type") == "DELETED")
