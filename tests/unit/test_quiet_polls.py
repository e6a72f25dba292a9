"""Quiet polls (issue 14): when a due poll may skip its run, and the shared probes."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crmsync.api.v1alpha1.status import Checkpoint, ResumePoint, RunTrigger
from crmsync.engine.quiet import (
    FRESH_SECONDS,
    Newest,
    ProbeNeeds,
    SyncState,
    aligned_poll,
    changed_records,
    ineligible,
    is_quiet,
)
from crmsync.engine.triggers import decide
from crmsync.providers.changeprobe import ChangeProbes, ProbeError
from tests.unit.test_triggers import NOW, SETTLED, run, spec

CP = datetime(2026, 11, 25, 9, 0, 0, 500_000, tzinfo=UTC)
"""A checkpoint as a full run leaves it: the run's start, with microseconds."""
CHECKPOINT = Checkpoint(modified_since=CP, deleted_since=CP, mapping_hash="m")
CRM_ONLY = ProbeNeeds("Contacts")
Z17 = ProbeNeeds("Contacts", campaign_statuses=("unsubscribed", "cleaned"))
TWO_WAY = ProbeNeeds("Contacts", campaign_any=True)


def state(**changes: object) -> SyncState:
    base = SyncState(
        checkpoint=CHECKPOINT,
        mapping_hash="m",
        retrying=False,
        ready_and_synced=True,
        parents_edited=False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def sec(seconds: float) -> datetime:
    return CP.replace(microsecond=0) + timedelta(seconds=seconds)


# --- which polls the probes may judge -------------------------------------------------


def test_a_settled_sync_may_be_judged_by_the_probes() -> None:
    assert ineligible(state()) == ""


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"checkpoint": Checkpoint()}, "no checkpoint"),
        ({"mapping_hash": "other"}, "mapping changed"),
        (
            {
                "checkpoint": CHECKPOINT.model_copy(
                    update={"resume": ResumePoint(run_id="r", start_time=CP)}
                )
            },
            "interrupted run",
        ),
        (
            {"checkpoint": CHECKPOINT.model_copy(update={"pending_writes": ["add:x"]})},
            "interrupted run",
        ),
        (
            {"checkpoint": CHECKPOINT.model_copy(update={"failed_record_ids": ["1"]})},
            "records to retry",
        ),
        ({"retrying": True}, "not healthy"),
        ({"ready_and_synced": False}, "not healthy"),
        ({"parents_edited": True}, "changes waiting"),
        ({"campaign_pending": True}, "changes waiting"),
    ],
)
def test_polls_that_must_run_as_before(changes: dict[str, object], why: str) -> None:
    assert ineligible(state(**changes)) == why


# --- quiet or not ---------------------------------------------------------------------


def test_nothing_anywhere_is_quiet() -> None:
    assert is_quiet(CRM_ONLY, Newest(None, None), CHECKPOINT, None)


def test_changes_before_the_checkpoints_second_are_quiet() -> None:
    assert is_quiet(CRM_ONLY, Newest(sec(-60), sec(-1)), CHECKPOINT, None)


def test_a_record_modified_after_the_checkpoint_runs() -> None:
    assert not is_quiet(CRM_ONLY, Newest(sec(1), None), CHECKPOINT, None)


def test_the_checkpoints_own_second_runs_like_the_listing_reads_it_again() -> None:
    """If-Modified-Since has whole seconds: a record of that second is read by the run
    (it may have been edited after the checkpoint within the second)."""
    assert not is_quiet(CRM_ONLY, Newest(sec(0), None), CHECKPOINT, None)
    last_record = CHECKPOINT.model_copy(update={"modified_since": sec(0)})
    assert not is_quiet(CRM_ONLY, Newest(sec(0), None), last_record, None)


def test_a_run_that_started_later_settles_a_checkpoint_that_cannot_move() -> None:
    """An incremental run leaves the checkpoint on its last record's second, which the next
    run reads again; the start of the last run that completed (it read that record) says
    it was seen."""
    stuck = Newest(CP + timedelta(milliseconds=200), None)
    assert not is_quiet(CRM_ONLY, stuck, CHECKPOINT, None)
    assert not is_quiet(CRM_ONLY, stuck, CHECKPOINT, CP + timedelta(milliseconds=300))
    assert is_quiet(CRM_ONLY, stuck, CHECKPOINT, CP + timedelta(seconds=30))
    assert not is_quiet(CRM_ONLY, Newest(sec(30), None), CHECKPOINT, CP + timedelta(seconds=30))


def test_a_deletion_at_or_after_the_deleted_checkpoints_second_runs() -> None:
    assert not is_quiet(CRM_ONLY, Newest(None, sec(0)), CHECKPOINT, None)
    assert not is_quiet(CRM_ONLY, Newest(None, sec(5)), CHECKPOINT, None)
    assert is_quiet(CRM_ONLY, Newest(None, sec(-1)), CHECKPOINT, None)


def test_a_campaign_side_unsubscribe_since_the_last_run_runs_z17() -> None:
    after = Newest(None, None, campaign_statuses=(sec(10), None))
    assert not is_quiet(Z17, after, CHECKPOINT, None)
    # The last run started after it: that run read it.
    assert is_quiet(Z17, after, CHECKPOINT, sec(20))
    assert not is_quiet(Z17, Newest(None, None, campaign_statuses=(None, sec(25))), CHECKPOINT, sec(20))  # fmt: skip


def test_two_way_runs_for_any_member_changed_since_its_campaign_checkpoint() -> None:
    two_way = CHECKPOINT.model_copy(update={"campaign_changed_since": sec(30)})
    assert is_quiet(TWO_WAY, Newest(None, None, campaign_any=sec(29)), two_way, None)
    assert not is_quiet(TWO_WAY, Newest(None, None, campaign_any=sec(30)), two_way, None)
    assert not is_quiet(TWO_WAY, Newest(None, None, campaign_any=sec(1)), CHECKPOINT, None)


# --- records changed: which ones (routed like a notification's) --------------------


def test_the_records_modified_since_the_horizon_are_named() -> None:
    recent = (("3", sec(40)), ("2", sec(0)), ("1", sec(-5)))
    newest = Newest(sec(40), None, recent=recent, complete=True)
    assert changed_records(CRM_ONLY, newest, CHECKPOINT, None) == ["3", "2"]
    # The last run started after the second one: only the newest is left.
    assert changed_records(CRM_ONLY, newest, CHECKPOINT, sec(10)) == ["3"]


def test_more_changes_than_the_probe_lists_run() -> None:
    recent = (("3", sec(40)), ("2", sec(30)))
    assert changed_records(CRM_ONLY, Newest(sec(40), None, recent=recent, complete=False), CHECKPOINT, None) is None  # fmt: skip
    older = (*recent, ("1", sec(-30)))
    assert changed_records(CRM_ONLY, Newest(sec(40), None, recent=older, complete=False), CHECKPOINT, None) == ["3", "2"]  # fmt: skip


def test_a_deletion_or_a_campaign_side_change_is_never_routed() -> None:
    recent = (("3", sec(40)),)
    deleted = Newest(sec(40), sec(5), recent=recent)
    assert changed_records(CRM_ONLY, deleted, CHECKPOINT, None) is None
    opted_out = Newest(sec(40), None, campaign_statuses=(sec(5), None), recent=recent)
    assert changed_records(Z17, opted_out, CHECKPOINT, None) is None


# --- when the next poll is due --------------------------------------------------------


def test_quiet_polls_fall_on_a_shared_grid_never_later_than_due() -> None:
    minute = timedelta(minutes=1)
    odd = datetime(2026, 11, 25, 10, 0, 7, 300_000, tzinfo=UTC)
    assert aligned_poll(odd, minute) == datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    assert aligned_poll(odd + timedelta(seconds=10), minute) == datetime(2026, 11, 25, 10, 0, 15, tzinfo=UTC)  # fmt: skip
    # Two syncs a few seconds apart poll together from then on.
    a, b = aligned_poll(odd, minute), aligned_poll(odd + timedelta(seconds=5), minute)
    assert a == b
    assert odd - aligned_poll(odd, minute) < minute / 4


def test_the_next_poll_counts_from_the_quiet_one() -> None:
    polls = spec(mode="Instant", pollInterval="5m")
    assert decide(polls, SETTLED, NOW).trigger is None  # ran a minute ago
    five_ago = replace(SETTLED, last_run=run(6))
    assert decide(polls, five_ago, NOW).trigger == RunTrigger.POLL
    quiet = replace(five_ago, quiet_poll=NOW - timedelta(minutes=1))
    decision = decide(polls, quiet, NOW)
    assert decision.trigger is None
    assert decision.next_check == NOW + timedelta(minutes=4)
    # status.nextRunTime stays as the last run left it: a quiet poll writes nothing.
    assert decision.next_run == NOW - timedelta(minutes=1)
    # Older than the last run: the run counts.
    assert decide(polls, replace(five_ago, quiet_poll=NOW - timedelta(hours=1)), NOW).trigger == RunTrigger.POLL  # fmt: skip


# --- the shared probes ----------------------------------------------------------------


async def test_concurrent_askers_share_one_read() -> None:
    probes = ChangeProbes()
    reads = 0

    async def read() -> str:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)
        return "answer"

    answers = await asyncio.gather(*(probes.ask(("crm", "Contacts"), read) for _ in range(50)))
    assert [a for a, _ in answers] == ["answer"] * 50
    assert len({read_at for _, read_at in answers}) == 1
    assert reads == 1 == probes.reads


async def test_an_answer_is_reused_while_fresh_then_read_again() -> None:
    clock = [100.0]
    probes = ChangeProbes(clock=lambda: clock[0])
    counter = iter(range(10))

    async def read() -> int:
        return next(counter)

    assert (await probes.ask("q", read))[0] == 0
    clock[0] += FRESH_SECONDS - 0.5
    assert (await probes.ask("q", read))[0] == 0
    assert (await probes.ask("other", read))[0] == 1
    clock[0] += 1.0
    assert (await probes.ask("q", read))[0] == 2


async def test_a_failed_read_fails_its_followers_and_is_not_kept() -> None:
    probes = ChangeProbes()
    started = asyncio.Event()

    async def failing() -> int:
        started.set()
        await asyncio.sleep(0.01)
        raise OSError("down")

    async def working() -> int:
        return 7

    leader = asyncio.ensure_future(probes.ask("q", failing))
    await started.wait()
    with pytest.raises(ProbeError):
        await probes.ask("q", working)
    with pytest.raises(OSError, match="down"):
        await leader
    assert (await probes.ask("q", working))[0] == 7
