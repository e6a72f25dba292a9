"""Scale-out by shards (issue 15.2), the way Flux shards its controllers.

Every object may carry the label ``crmsync.dev/shard``. ``crmsync run --shard NAME``
handles only the objects labelled ``crmsync.dev/shard=NAME``; ``crmsync run`` without
``--shard`` (the default instance) handles only the objects without the label. Every
handler and daemon carries the filter :data:`LABELS`: kopf ignores the objects outside the
shard (no handler, no state written) and stops a daemon whose object leaves it, so
relabelling an object moves it from one instance to the other.

The filter is client-side (kopf sees every object): a server-side label selector would
show an object that leaves the shard as deleted.

Each shard keeps its own kopf finalizer and its own peering object: kopf removes a
finalizer that none of its handlers needs, so two shards sharing one would take it off
and put it back forever, and one peering object would pause all shards but one.
"""

from __future__ import annotations

import re
from typing import Any

SHARD_LABEL = "crmsync.dev/shard"
FINALIZER = "crmsync.dev/finalizer"
PEERING = "crmsync"
HANDOFF_SECONDS = 45.0
"""How long a new shard waits for the previous shard to close a run it had in progress
(kopf cancels that daemon at once and gives it 30 s to exit; an instance that died never
closes it)."""

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")


class Sharding:
    """This process's shard: set once by ``crmsync run`` before kopf starts."""

    shard: str = ""
    """Empty for the default instance (objects without the label)."""


def validate(name: str) -> str:
    """A shard name: a DNS label of at most 40 characters (it names a finalizer and a peering
    object and is a label value)."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"shard name {name!r}: lowercase letters, digits and '-', at most 40 characters"
        )
    return name


def in_shard(value: str | None, **_: Any) -> bool:
    """kopf label filter: the object's ``crmsync.dev/shard`` (None when absent) is ours."""
    return (value or "") == Sharding.shard


LABELS: dict[str, Any] = {SHARD_LABEL: in_shard}
"""``labels=`` of every handler and daemon."""


def shard_of(body: Any) -> str:
    labels = (body.get("metadata") or {}).get("labels") or {}
    return str(labels.get(SHARD_LABEL) or "")


def finalizer(shard: str) -> str:
    return f"{FINALIZER}-{shard}" if shard else FINALIZER


def peering(shard: str) -> str:
    return f"{PEERING}-{shard}" if shard else PEERING


def describe(shard: str | None) -> str:
    return f"shard {shard!r}" if shard else "the default instance"
