"""A run's status patch carries the nextRunTime the pass after it would write (issue 14:
one status patch fewer per run)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from crmsync.api.v1alpha1.status import Checkpoint, RunSummary, RunTrigger
from crmsync.engine.triggers import Decision, decide
from crmsync.reconcile.contactsync import _next_run_shown
from crmsync.runtime.counting import RunTally
from crmsync.runtime.sync import RunResult
from tests.unit.test_triggers import NOW, SETTLED, spec


def ended(trigger: RunTrigger) -> RunSummary:
    return RunSummary(id="r", trigger=trigger, start_time=NOW - timedelta(seconds=3), end_time=NOW)


def result(full_at: object = None) -> RunResult:
    return RunResult(RunTally(), Checkpoint(last_full_sync_time=full_at), members=2)


def test_a_poll_run_shows_the_next_poll_as_the_idle_pass_would() -> None:
    sync = spec(mode="Instant", pollInterval="5m")
    summary = ended(RunTrigger.POLL)
    patch = _next_run_shown(sync, SETTLED, Decision(RunTrigger.POLL), summary, result(), 1)
    after = replace(SETTLED, last_run=summary)
    idle = decide(sync, after, NOW + timedelta(seconds=1))
    assert idle.trigger is None
    assert patch == {"nextRunTime": (NOW + timedelta(minutes=5)).isoformat()}
    assert idle.next_run is not None and patch["nextRunTime"] == idle.next_run.isoformat()


def test_an_initial_run_of_a_new_generation_counts_as_synced() -> None:
    sync = spec(mode="Instant", pollInterval="1m")
    seen = replace(SETTLED, generation=2, last_run=None, last_full_sync=None)
    patch = _next_run_shown(
        sync, seen, Decision(RunTrigger.INITIAL, full=True), ended(RunTrigger.INITIAL),
        result(full_at=NOW), 2,
    )  # fmt: skip
    assert patch == {"nextRunTime": (NOW + timedelta(minutes=1)).isoformat()}


def test_nothing_when_the_next_pass_runs_at_once() -> None:
    sync = spec(mode="Instant", pollInterval="5m")
    seen = replace(SETTLED, sync_now="again", last_handled_sync_now="")
    # A poll ran while a sync-now was asked for: the next pass runs it and writes its own.
    patch = _next_run_shown(
        sync, seen, Decision(RunTrigger.POLL), ended(RunTrigger.POLL), result(), 1
    )
    assert patch == {}
