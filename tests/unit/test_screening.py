"""A CRM delivery wakes only the syncs it may concern (issue 14.3, a thousand syncs on one
channel): decided where it arrives, from what each sync's loop left in its signals."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from crmsync import metrics
from crmsync.engine.records import CrmRecord
from crmsync.reconcile.contactsync import SyncSignals
from crmsync.reconcile.screening import MAX_SCREENED_IDS, DeliveryScreen, Screen
from crmsync.webhook import Inbox
from tests.unit.test_routing import GERMANY, record

KEY = ("ns", "crm", "Contacts")


class Reader:
    def __init__(self, records: dict[str, CrmRecord] | None = None, fail: bool = False) -> None:
        self.records = records or {}
        self.fail = fail
        self.calls: list[tuple[list[str], list[str]]] = []

    async def __call__(
        self, screen: Screen, module: str, ids: Sequence[str], fields: Sequence[str]
    ) -> dict[str, CrmRecord]:
        assert module == "Contacts"
        self.calls.append((list(ids), list(fields)))
        if self.fail:
            raise OSError("connection refused")
        return {i: self.records[i] for i in ids if i in self.records}


def inbox(held: set[str] | None, *, age: float = 0.0, screened: bool = True) -> Inbox:
    signals = SyncSignals()
    signals.held.ids = held
    if screened:
        crm: Any = SimpleNamespace(endpoint=None)
        signals.screen = Screen(1, time.monotonic() - age, crm, GERMANY)
    return Inbox(signals, KEY)


def woken(*inboxes: Inbox) -> list[bool]:
    return [i.signals.notified for i in inboxes]


async def test_the_holder_wakes_at_once_and_the_others_only_if_their_criteria_match() -> None:
    reader = Reader({"7": record("7", "DE"), "8": record("8", "FR")})
    screen = DeliveryScreen(read=reader)
    holder, other = inbox({"7"}), inbox(set())
    screen.dispatch(KEY, [holder, other], ["7"])
    assert woken(holder, other) == [True, False]  # the holder before any read
    await screen.settle()
    assert woken(holder, other) == [True, True]  # 7 is in Germany: a new member for it
    assert holder.record_ids == other.record_ids == {"7"}
    assert len(reader.calls) == 1 and reader.calls[0][0] == ["7"]
    assert set(reader.calls[0][1]) == {"Country", "Email"}

    skipped = metrics.NOTIFICATIONS_NOT_ROUTED._value.get()
    elsewhere = [inbox(set()) for _ in range(50)]
    screen.dispatch(KEY, elsewhere, ["8"])
    await screen.settle()
    assert not any(woken(*elsewhere)) and all(not i.record_ids for i in elsewhere)
    assert len(reader.calls) == 2  # one read for all fifty
    assert metrics.NOTIFICATIONS_NOT_ROUTED._value.get() == skipped + 50


async def test_syncs_it_cannot_decide_for_wake_as_before() -> None:
    reader = Reader({"8": record("8", "FR")})
    screen = DeliveryScreen(read=reader)
    unknown = inbox(None)  # no full comparison yet
    stale = inbox(set(), age=3600)  # resolved an hour ago
    unscreened = inbox(set(), screened=False)  # spec changed since
    pending = inbox(set())
    pending.record_ids.add("3")  # woken already, not looked yet
    campaign = inbox(set())
    campaign.signals.campaign_side = True
    screen.dispatch(KEY, [unknown, stale, unscreened, pending, campaign], ["8"])
    assert all(woken(unknown, stale, unscreened, pending, campaign))
    await screen.settle()
    assert reader.calls == []


async def test_a_failed_read_wakes_every_sync_and_a_large_delivery_is_not_screened() -> None:
    failing = DeliveryScreen(read=Reader(fail=True))
    syncs = [inbox(set()) for _ in range(3)]
    failing.dispatch(KEY, syncs, ["8"])
    await failing.settle()
    assert all(woken(*syncs)) and all(i.record_ids == {"8"} for i in syncs)

    reader = Reader()
    many = [str(n) for n in range(MAX_SCREENED_IDS + 1)]
    big = inbox(set())
    DeliveryScreen(read=reader).dispatch(KEY, [big], many)
    assert woken(big) == [True] and reader.calls == []
