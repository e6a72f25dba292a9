"""Actions held across CRM pages until they fill whole vendor batches."""

from __future__ import annotations

from crmsync.engine.plan import Action, ActionKind, Reason
from crmsync.runtime.batching import MAX_HELD_BATCHES, PendingPages


def actions(kind: ActionKind, count: int, prefix: str) -> list[Action]:
    return [
        Action(kind=kind, email=f"{prefix}{i}@example.com", reason=Reason.NEW_RECORD)
        for i in range(count)
    ]


def test_pages_wait_until_their_writes_fill_a_batch() -> None:
    pending: PendingPages[str] = PendingPages(size=5)
    pending.add(actions(ActionKind.ADD, 3, "a"), "page1")
    assert pending.ready() == ([], None)
    pending.add(actions(ActionKind.UPDATE, 3, "b"), "page2")
    taken, mark = pending.ready()
    # One whole batch goes; page 2 is not fully written yet, so only page 1 is confirmed.
    expected = [f"a{i}@example.com" for i in range(3)] + ["b0@example.com", "b1@example.com"]
    assert [a.email for a in taken] == expected
    assert mark == "page1"
    assert [a.email for a in pending.actions] == ["b2@example.com"]
    pending.add(actions(ActionKind.ADD, 4, "c"), "page3")
    taken, mark = pending.ready()
    assert len(taken) == 5
    assert mark == "page3"
    assert pending.actions == []
    assert pending.rest() == ([], None)


def test_the_end_of_the_stream_takes_everything_with_the_last_mark() -> None:
    pending: PendingPages[int] = PendingPages(size=500)
    for page in range(3):
        pending.add(actions(ActionKind.ADD, 200, f"p{page}-"), page)
    taken, mark = pending.ready()
    assert (len(taken), mark) == (500, 1)
    taken, mark = pending.rest()
    assert (len(taken), mark) == (100, 2)


def test_pages_without_writes_are_not_held_forever() -> None:
    pending: PendingPages[int] = PendingPages(size=10)
    for page in range(MAX_HELD_BATCHES - 1):
        pending.add(actions(ActionKind.UNCHANGED, 10, f"x{page}-"), page)
        assert pending.ready() == ([], None)
    pending.add(actions(ActionKind.UNSUBSCRIBE, 10, "last-"), MAX_HELD_BATCHES - 1)
    taken, mark = pending.ready()
    assert (len(taken), mark) == (MAX_HELD_BATCHES * 10, MAX_HELD_BATCHES - 1)
