"""Turning actions and the vendors' per-item answers into counts and skipped rows."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from crmsync.api.v1alpha1.status import SyncCounts
from crmsync.engine.plan import Action, ActionKind
from crmsync.engine.records import WriteOutcome, WriteResult

MAX_SKIPPED_ROWS = 15_000
"""Rows kept for the skipped-record export (a ConfigMap holds at most 1 MiB)."""


@dataclass(frozen=True)
class SkippedRow:
    email: str
    record_id: str
    kind: str
    reason: str
    detail: str = ""


@dataclass
class RunTally:
    """What one run did, accumulated chunk by chunk."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    unsubscribed: int = 0
    deleted: int = 0
    skipped_duplicate: int = 0
    skipped_ignored: int = 0
    failed: int = 0
    released: int = 0
    """Members this sync stopped wanting that another sync on the audience still wants:
    they stay, only this sync's claim went (:mod:`crmsync.engine.ownership`)."""
    crm_opted_out: int = 0
    """CRM records whose opt-out field this run set (their member unsubscribed or was
    cleaned on the campaign side, Z17); they count as CRM updates too, as in two-way flows."""
    by_reason: Counter[str] = field(default_factory=Counter)
    skipped: list[SkippedRow] = field(default_factory=list)
    skipped_total: int = 0

    def _skip(self, row: SkippedRow) -> None:
        self.by_reason[row.reason] += 1
        self.skipped_total += 1
        if len(self.skipped) < MAX_SKIPPED_ROWS:
            self.skipped.append(row)

    def count_planned(self, action: Action) -> None:
        """Actions that need no vendor call."""
        if action.kind == ActionKind.UNCHANGED:
            self.unchanged += 1
        elif action.kind == ActionKind.SKIP_DUPLICATE:
            self.skipped_duplicate += 1
            self._skip(SkippedRow(action.email, action.record_id, "duplicate", action.reason))
        elif action.kind == ActionKind.SKIP_IGNORED:
            self.skipped_ignored += 1
            self._skip(SkippedRow(action.email, action.record_id, "ignored", action.reason))

    def count_sent(self, kind: ActionKind) -> None:
        """A write an interrupted run sent (its answer unrecorded), counted as what it was."""
        if kind == ActionKind.ADD:
            self.added += 1
        elif kind == ActionKind.UPDATE:
            self.updated += 1
        elif kind == ActionKind.UNSUBSCRIBE:
            self.unsubscribed += 1
        elif kind == ActionKind.REMOVE:
            self.deleted += 1
        elif kind == ActionKind.RELEASE:
            self.released += 1
        elif kind == ActionKind.CRM_OPT_OUT:
            self.crm_opted_out += 1

    def count_result(self, action: Action, result: WriteResult) -> None:
        """The vendor's answer for one executed action."""
        if result.outcome == WriteOutcome.REJECTED:
            self.failed += 1
            self._skip(
                SkippedRow(
                    action.email,
                    action.record_id,
                    "failed",
                    result.reason or "rejected",
                    result.detail,
                )
            )
        elif action.kind == ActionKind.UNSUBSCRIBE:
            self.unsubscribed += 1
        elif action.kind == ActionKind.CRM_OPT_OUT:
            self.crm_opted_out += 1
        elif action.kind == ActionKind.REMOVE:
            self.deleted += 1
        elif action.kind == ActionKind.RELEASE:
            self.released += 1
        elif result.outcome == WriteOutcome.CREATED:
            self.added += 1
        elif result.outcome == WriteOutcome.UPDATED:
            self.updated += 1
        else:
            self.unchanged += 1

    def as_counts(self) -> SyncCounts:
        return SyncCounts(
            total=self.added
            + self.updated
            + self.unchanged
            + self.unsubscribed
            + self.skipped_duplicate
            + self.skipped_ignored
            + self.failed
            + self.crm_opted_out,
            added=self.added,
            updated=self.updated,
            unchanged=self.unchanged,
            unsubscribed=self.unsubscribed,
            deleted=self.deleted,
            released=self.released,
            skipped_duplicate=self.skipped_duplicate,
            skipped_ignored=self.skipped_ignored,
            failed=self.failed,
            crm_updated=self.crm_opted_out,
            crm_opted_out=self.crm_opted_out,
            skipped_by_reason=dict(self.by_reason),
        )


def add_counts(total: SyncCounts, run: SyncCounts) -> SyncCounts:
    """History since creation: the sum of every run's counts (Z12)."""
    merged = Counter(total.skipped_by_reason)
    merged.update(run.skipped_by_reason)
    numbers = {
        name: getattr(total, name) + getattr(run, name)
        for name in SyncCounts.model_fields
        if name != "skipped_by_reason"
    }
    return SyncCounts(**numbers, skipped_by_reason=dict(merged))
