"""Writes sent to a vendor whose answer was not recorded yet, so that a crash between the
two neither loses nor repeats them in the counts (issue 12.3).

Before a chunk of writes goes out, the run saves — with the counts and checkpoint that are
true at that moment — the list of what it is about to write: ``kind:hash`` per member
(a short hash of the email, never the address). Whatever a kill then hits (the vendor call,
the status write after it), the next run finds the list: those members count once as what
was sent (an add stays an add even though the member now reads as unchanged), unless the
vendor refuses them when written again. The list is cleared when the run ends.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from crmsync.engine.plan import Action, ActionKind

HASH_LENGTH = 12
MAX_PENDING = 20_000
"""Bounded by the writes one flush holds (a few vendor batches)."""
WRITE_KINDS = frozenset(
    {
        ActionKind.ADD,
        ActionKind.UPDATE,
        ActionKind.UNSUBSCRIBE,
        ActionKind.REMOVE,
        ActionKind.CRM_OPT_OUT,
        ActionKind.RELEASE,
    }
)


def member_key(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:HASH_LENGTH]


def decode(lines: Iterable[str]) -> dict[str, ActionKind]:
    known = {k.value for k in WRITE_KINDS}
    out: dict[str, ActionKind] = {}
    for line in lines:
        kind, sep, key = line.partition(":")
        if sep and key and kind in known:
            out[key] = ActionKind(kind)
    return out


def encode(pending: Mapping[str, ActionKind]) -> list[str]:
    return [f"{kind.value}:{key}" for key, kind in sorted(pending.items())][:MAX_PENDING]


def writes_of(
    actions: Iterable[Action], recovering: Mapping[str, ActionKind]
) -> dict[str, ActionKind]:
    """The writes among ``actions``, each under the kind it counts as (a member still
    owed from an interrupted run keeps that run's kind)."""
    out: dict[str, ActionKind] = {}
    for action in actions:
        if action.kind in WRITE_KINDS and action.email:
            key = member_key(action.email)
            out[key] = recovering.get(key, action.kind)
    return out
