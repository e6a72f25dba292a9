"""A CRM delivery wakes only the syncs it may concern, decided where it arrives.

Routing in each sync (:mod:`crmsync.reconcile.routing`) made the runs few, but every sync
on the channel still woke for every delivery and asked for itself: with a thousand syncs
on Contacts, one edit meant a thousand passes in the operator's one event loop, and the
sync concerned waited behind them. Now the webhook hands a delivery to the
:class:`DeliveryScreen`, which, for each sync on the channel:

- wakes it at once when a notified record is one it holds a member for, when what it
  holds is not known yet, when it has something pending anyway (ids not taken yet, a
  campaign-side change) or when its last resolution is stale or of another generation;
- otherwise reads the notified records once for all these syncs (the Connection's shared
  read, :data:`~crmsync.reconcile.routing.READS`) and wakes only those whose criteria
  a record now matches. A read that fails wakes them all: nothing is dropped that the
  syncs would have run for.

What the screen decides on is what the sync itself would (:func:`concerns`), from the
state its loop left in its signals (:class:`Screen`, refreshed at each resolution and
dropped on a spec change).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from crmsync import metrics
from crmsync.engine.records import CrmRecord
from crmsync.engine.settings import SyncSettings
from crmsync.providers.factory import open_crm
from crmsync.providers.http import CallStats
from crmsync.reconcile.resolve import ResolvedConnection
from crmsync.reconcile.routing import READS, HeldRecords, concerns
from crmsync.webhook import ChannelKey, Inbox, deliver

log = logging.getLogger("crmsync.webhook")

SCREEN_FOR_SECONDS = 300.0
"""How long a sync's last resolution decides for it, here and in its own routing."""
MAX_SCREENED_IDS = 200
"""Deliveries naming more records wake every sync, as before (two reads by id at most)."""


@dataclass(frozen=True)
class Screen:
    """What a delivery needs to decide for a sync without waking it."""

    generation: int
    at: float
    crm: ResolvedConnection
    settings: SyncSettings

    def fresh(self) -> bool:
        return time.monotonic() - self.at < SCREEN_FOR_SECONDS


Reader = Callable[[Screen, str, Sequence[str], Sequence[str]], Awaitable[dict[str, CrmRecord]]]
"""(a screen of the channel, module, ids, fields) → the records found."""


async def read_shared(
    screen: Screen, module: str, ids: Sequence[str], fields: Sequence[str]
) -> dict[str, CrmRecord]:
    """The notified records through the Connection's shared read."""
    endpoint = screen.crm.endpoint
    async with open_crm(endpoint, CallStats()) as crm:
        return await READS.records(crm, endpoint.connection, module, ids, fields)


def _screen_of(inbox: Inbox) -> tuple[Screen, HeldRecords] | None:
    """The sync's screen and holdings when a delivery may be decided without waking it."""
    signals = inbox.signals
    screen = getattr(signals, "screen", None)
    held = getattr(signals, "held", None)
    if not isinstance(screen, Screen) or not isinstance(held, HeldRecords):
        return None
    if held.ids is None or signals.campaign_side or inbox.pending() or not screen.fresh():
        return None
    return screen, held


@dataclass
class DeliveryScreen:
    """Decides which syncs a channel's delivery wakes (see the module docstring)."""

    read: Reader = read_shared

    def __post_init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def dispatch(self, key: ChannelKey, inboxes: Sequence[Inbox], ids: Sequence[str]) -> None:
        if len(ids) > MAX_SCREENED_IDS:
            for inbox in inboxes:
                deliver(inbox, list(ids), key[2])
            return
        undecided: list[tuple[Inbox, Screen, HeldRecords]] = []
        for inbox in inboxes:
            screened = _screen_of(inbox)
            if screened is None or not (screened[1].ids or set()).isdisjoint(ids):
                deliver(inbox, list(ids), key[2])
            else:
                undecided.append((inbox, *screened))
        if undecided:
            task = asyncio.create_task(self._decide(key, undecided, list(ids)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _decide(
        self, key: ChannelKey, undecided: list[tuple[Inbox, Screen, HeldRecords]], ids: list[str]
    ) -> None:
        fields = sorted(
            {c.field for _, s, _ in undecided for c in s.settings.criteria}
            | {s.settings.email_field for _, s, _ in undecided}
        )
        try:
            records = await self.read(undecided[0][1], key[2], ids, fields)
        except Exception as exc:  # whatever failed, the syncs decide for themselves
            log.warning(
                "notified records of %s not read (%s): every sync wakes", "/".join(key), exc
            )
            for inbox, _, _ in undecided:
                deliver(inbox, ids, key[2])
            return
        for inbox, screen, held in undecided:
            if concerns(screen.settings, held.ids, ids, records):
                deliver(inbox, ids, key[2])
            else:
                metrics.NOTIFICATIONS_NOT_ROUTED.inc()

    async def settle(self) -> None:
        """Wait for the screenings under way (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
