"""Writes sent but not recorded (a crash in between) are counted once by the next run."""

from __future__ import annotations

from crmsync.engine.plan import Action, ActionKind, Reason
from crmsync.runtime import pending
from crmsync.runtime.counting import RunTally


def test_pending_lines_round_trip_without_addresses() -> None:
    owed = {
        pending.member_key("a@x.io"): ActionKind.ADD,
        pending.member_key("b@x.io"): ActionKind.REMOVE,
    }
    lines = pending.encode(owed)
    assert all("@" not in line for line in lines)
    assert pending.decode(lines) == owed
    assert pending.decode(["bogus", "unchanged:abc", "add:"]) == {}


def test_a_member_owed_from_an_interrupted_run_keeps_that_runs_kind() -> None:
    recovering = {pending.member_key("a@x.io"): ActionKind.ADD}
    actions = [
        Action(ActionKind.UPDATE, "a@x.io", Reason.FIELDS_CHANGED, "1"),  # its tags, say
        Action(ActionKind.ADD, "b@x.io", Reason.NEW_RECORD, "2"),
        Action(ActionKind.UNCHANGED, "c@x.io", Reason.IN_SYNC, "3"),
    ]
    assert pending.writes_of(actions, recovering) == {
        pending.member_key("a@x.io"): ActionKind.ADD,
        pending.member_key("b@x.io"): ActionKind.ADD,
    }


def test_sent_writes_count_as_what_they_were() -> None:
    tally = RunTally()
    for kind in (ActionKind.ADD, ActionKind.UPDATE, ActionKind.REMOVE, ActionKind.RELEASE):
        tally.count_sent(kind)
    counts = tally.as_counts()
    assert (counts.added, counts.updated, counts.deleted, counts.released) == (1, 1, 1, 1)
    assert counts.total == 2  # removals and releases are not records taking part
