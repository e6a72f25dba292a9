"""A sync moved to this shard (its ``crmsync.dev/shard`` label changed): take it over
without running it twice.

The previous shard's instance stops the sync's daemon when it sees the new label, but a
run it has in progress goes on until it ends or kopf cancels it (the daemon's 30 s
cancellation timeout). Every run is marked Running in ``status.lastRun`` (with the shard
that runs it) before it writes anything, so the new shard waits for such a run to end
before its first pass; a run that does not end in time was cut off and is closed as
Interrupted by the first pass, which resumes from its checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from crmsync.k8s.logs import Logger
from crmsync.reconcile.live import LiveObject
from crmsync.sharding import HANDOFF_SECONDS, Sharding, describe

SETTLE_SECONDS = 3.0
"""After a move, time for the previous shard to see the label too (a pass it was about to
start checks the label first and stands down)."""
POLL_SECONDS = 0.5


def _last_run(body: dict[str, Any]) -> dict[str, Any]:
    return dict((body.get("status") or {}).get("lastRun") or {})


async def take_over(
    obj: LiveObject, logger: Logger, *, wait_seconds: float = HANDOFF_SECONDS
) -> None:
    """Record this shard in ``status.shard``; if the sync comes from another shard, wait
    (at most ``wait_seconds``) for that shard's run in progress to end."""
    mine = Sharding.shard
    body = obj.snapshot()
    status = body.get("status") or {}
    previous = str(status.get("shard") or "")
    running = _last_run(body)
    run_shard = str(running.get("shard") or "")
    if previous != mine:
        await obj.patch_status(body, {"shard": mine})
    # A new sync (no status.shard, no run yet) comes from nowhere.
    handled_before = "shard" in status or bool(running)
    moved = previous != mine or (bool(running) and run_shard != mine)
    if not (handled_before and moved):
        return
    logger.info("taking over from %s", describe(previous or run_shard))
    await asyncio.sleep(SETTLE_SECONDS)
    running = _last_run(obj.snapshot())
    if not running or running.get("endTime") or str(running.get("shard") or "") == mine:
        return
    run_id = running.get("id")
    logger.info(
        "waiting for run %s of %s to end", run_id, describe(str(running.get("shard") or ""))
    )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        last = _last_run(obj.snapshot())
        if last.get("endTime") or last.get("id") != run_id:
            logger.info("run %s ended (%s): taking over", run_id, last.get("outcome"))
            return
    logger.warning("run %s did not end within %.0fs: it was cut off", run_id, wait_seconds)
