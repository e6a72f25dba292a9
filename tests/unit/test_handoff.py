"""Issue 15.2: taking a sync over from another shard (crmsync/reconcile/handoff.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from crmsync.reconcile import handoff
from crmsync.sharding import SHARD_LABEL, Sharding

LOG = logging.getLogger("test")


class FakeSync:
    """A LiveObject stand-in: a status another shard may change, and our patches."""

    def __init__(self, status: dict[str, Any], label: str = "") -> None:
        labels = {SHARD_LABEL: label} if label else {}
        self.body: dict[str, Any] = {
            "metadata": {"name": "s", "namespace": "n", "labels": labels},
            "status": status,
        }
        self.patches: list[dict[str, Any]] = []
        self.logger = LOG

    def snapshot(self) -> dict[str, Any]:
        return self.body

    async def patch_status(self, body: dict[str, Any], patch: dict[str, Any]) -> None:
        self.patches.append(patch)
        self.body["status"] = {**self.body["status"], **patch}


RUNNING_IN_A = {"id": "r1", "trigger": "Initial", "startTime": "2026-01-01T00:00:00Z",
                "outcome": "Running", "shard": "a"}  # fmt: skip


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(handoff, "SETTLE_SECONDS", 0.01)
    monkeypatch.setattr(handoff, "POLL_SECONDS", 0.01)
    before = Sharding.shard
    Sharding.shard = "b"
    yield
    Sharding.shard = before


async def test_a_new_sync_is_taken_at_once() -> None:
    sync = FakeSync({})
    await asyncio.wait_for(handoff.take_over(sync, LOG, wait_seconds=5), timeout=1)  # type: ignore[arg-type]
    assert sync.patches == [{"shard": "b"}]


async def test_waits_for_the_previous_shards_run_to_be_closed() -> None:
    sync = FakeSync({"shard": "a", "lastRun": dict(RUNNING_IN_A)}, label="b")
    task = asyncio.create_task(handoff.take_over(sync, LOG, wait_seconds=5))  # type: ignore[arg-type]
    await asyncio.sleep(0.2)
    assert not task.done()  # shard a's run still marked Running
    sync.body["status"]["lastRun"] = {**RUNNING_IN_A, "endTime": "2026-01-01T00:01:00Z",
                                      "outcome": "Interrupted"}  # fmt: skip
    await asyncio.wait_for(task, timeout=1)
    assert sync.patches == [{"shard": "b"}]


async def test_gives_up_waiting_for_an_instance_that_died() -> None:
    sync = FakeSync({"shard": "a", "lastRun": dict(RUNNING_IN_A)}, label="b")
    await asyncio.wait_for(handoff.take_over(sync, LOG, wait_seconds=0.1), timeout=1)  # type: ignore[arg-type]
    # Still Running: the first pass closes it as Interrupted and resumes it.
    assert "endTime" not in sync.body["status"]["lastRun"]


async def test_its_own_run_cut_off_by_a_restart_is_not_waited_for() -> None:
    sync = FakeSync({"shard": "b", "lastRun": {**RUNNING_IN_A, "shard": "b"}}, label="b")
    await asyncio.wait_for(handoff.take_over(sync, LOG, wait_seconds=5), timeout=0.5)  # type: ignore[arg-type]
    assert sync.patches == []


class Closing(FakeSync):
    closed: list[str]

    async def _close_interrupted(self, body: dict[str, Any], status: Any, cause: str) -> None:
        self.closed = [status.last_run.id, cause]


async def test_a_cancelled_daemon_closes_the_run_of_a_moved_sync() -> None:
    Sharding.shard = "a"
    moved = Closing({"lastRun": dict(RUNNING_IN_A)}, label="b")
    await handoff.release(moved)  # type: ignore[arg-type]
    assert moved.closed == ["r1", "the sync moved to shard 'b'"]
    # Not moved (the operator exits or pauses): left for its next start or the standby.
    stays = Closing({"lastRun": dict(RUNNING_IN_A)}, label="a")
    await handoff.release(stays)  # type: ignore[arg-type]
    assert not hasattr(stays, "closed")
