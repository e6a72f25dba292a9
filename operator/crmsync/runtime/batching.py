"""Holding planned actions across CRM pages until they fill whole vendor batches.

The CRM reads 200 records a page, Mailchimp takes 500 members a call: written page by page,
every call would be at most 200 wide (504 calls for 100,000 records instead of 200). So the
actions of several pages wait here until their member writes fill whole batches. Each
record leaves a *mark* (the checkpoint as it may be once its action is written: the
planner makes at most one action a record); a flush hands back the longest prefix of
actions that fills whole batches and the mark of the last record that prefix completes, so
a checkpoint never passes a write still waiting, and the counts reported with it are those
of exactly the records before it (B5).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from crmsync.engine.plan import Action, ActionKind

Mark = TypeVar("Mark")
BATCHED_KINDS = frozenset({ActionKind.ADD, ActionKind.UPDATE})
MAX_HELD_BATCHES = 4
"""Other actions (skips, unsubscribes, removals) are held at most this many batches' worth."""


@dataclass
class PendingPages(Generic[Mark]):
    size: int
    actions: list[Action] = field(default_factory=list)
    marks: deque[tuple[int, Mark]] = field(default_factory=deque)
    """(number of actions added in all once the record was added, its mark), oldest first."""
    handed_out: int = 0
    """Actions handed out so far: a mark's position in ``actions`` is its number minus this."""

    def add(self, actions: Sequence[Action], mark: Mark) -> None:
        self.actions.extend(actions)
        self.marks.append((self.handed_out + len(self.actions), mark))

    def ready(self) -> tuple[list[Action], Mark | None]:
        """What fills whole batches now (may be nothing) and the last mark it completes."""
        cut, writes = 0, 0
        for index, action in enumerate(self.actions):
            if action.kind in BATCHED_KINDS:
                writes += 1
                if writes % self.size == 0:
                    cut = index + 1
        if cut == 0 and len(self.actions) >= MAX_HELD_BATCHES * self.size:
            cut = len(self.actions)
        return self._take(cut)

    def writes_ready(self) -> bool:
        """Whether :meth:`ready` would hand out actions now."""
        writes = sum(1 for action in self.actions if action.kind in BATCHED_KINDS)
        return writes >= self.size or len(self.actions) >= MAX_HELD_BATCHES * self.size

    def rest(self) -> tuple[list[Action], Mark | None]:
        """Everything still held (the end of the stream)."""
        return self._take(len(self.actions))

    def _take(self, cut: int) -> tuple[list[Action], Mark | None]:
        taken, self.actions = self.actions[:cut], self.actions[cut:]
        self.handed_out += cut
        mark: Mark | None = None
        while self.marks and self.marks[0][0] <= self.handed_out:
            mark = self.marks.popleft()[1]
        return taken, mark
