"""A sync moved to this shard (its ``crmsync.dev/shard`` label changed): take it over
without running it twice.

kopf cancels the previous shard's daemon as soon as that instance sees the new label (the
object left its filters); a run in progress is cut off where it is, like a crash (every
write about to be sent is saved first, so the resumed run counts it once), and the
cancelled daemon closes it as Interrupted (:func:`release`). Every run is marked Running
in ``status.lastRun``, with the shard that runs it, before it writes anything, so the new
shard waits for such a run to be closed before its first pass — at most
``HANDOFF_SECONDS``, for an instance that died meanwhile, after which the first pass
closes it itself. Either way the new shard resumes it from its checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from crmsync.api.v1alpha1.contactsync import ContactSyncStatus
from crmsync.k8s.logs import Logger
from crmsync.reconcile.live import LiveObject
from crmsync.sharding import HANDOFF_SECONDS, Sharding, describe, in_shard, shard_of

if TYPE_CHECKING:
    from crmsync.reconcile.contactsync import ContactSyncReconciler

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


async def release(obj: ContactSyncReconciler) -> None:
    """The daemon was cancelled: if the sync has moved to another shard and this shard's
    run is still marked Running, close it as Interrupted now, so the new shard resumes it
    at once (nothing more is written by this run: its task is cancelled)."""
    body = obj.snapshot()
    if in_shard(shard_of(body)):
        return  # operator exiting or paused: its next start (or the standby) closes it
    status = ContactSyncStatus.model_validate(body["status"])
    last = status.last_run
    if last is None or last.end_time is not None or last.shard != Sharding.shard:
        return
    moved_to = describe(shard_of(body))
    obj.logger.warning("run %s stopped: the sync moved to %s", last.id, moved_to)
    await obj._close_interrupted(body, status, cause=f"the sync moved to {moved_to}")
