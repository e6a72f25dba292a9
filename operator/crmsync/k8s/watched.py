"""Objects as kopf's watch last showed them. Every pass of every sync needs its two
Connections: read here, not from the API server (which kopf already watches for them).

Fed by a handler without the shard filter (a Connection serves syncs of every shard, and
one relabelled away must not linger here). Not seen yet (the operator just started):
callers read the API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Watched:
    def __init__(self) -> None:
        self._bodies: dict[tuple[str, str], dict[str, Any]] = {}

    def seen(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A watch event (type None: kopf's initial listing)."""
        meta = body["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        if event_type == "DELETED":
            self._bodies.pop(key, None)
        else:
            self._bodies[key] = dict(body)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The last body seen (callers only read it), or None when never seen."""
        return self._bodies.get((namespace, name))


CONNECTIONS = Watched()
