"""ContactSync handlers: one reconcile loop per object, woken by changes."""

from __future__ import annotations

from typing import Any

import kopf

from crmsync.api.v1alpha1 import GROUP, VERSION
from crmsync.handlers.context import kube
from crmsync.k8s.logs import Logger
from crmsync.reconcile.contactsync import ContactSyncReconciler, SyncSignals


def signals_of(memo: Any) -> SyncSignals:
    """The object's signals, created on first use (kopf gives each object its own memo)."""
    signals = getattr(memo, "signals", None)
    if not isinstance(signals, SyncSignals):
        signals = SyncSignals()
        memo.signals = signals
    return signals


@kopf.daemon(GROUP, VERSION, "contactsyncs", cancellation_timeout=30.0)
async def contactsync_loop(
    body: kopf.Body, memo: kopf.Memo, logger: Logger, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    await ContactSyncReconciler(kube(), body, logger, signals_of(memo)).run_forever(stopped)


@kopf.on.update(GROUP, VERSION, "contactsyncs")
async def contactsync_changed(memo: kopf.Memo, **_: Any) -> None:
    """A spec, label or annotation change (e.g. crmsync.dev/sync-now): look again now."""
    signals_of(memo).wake.set()


@kopf.on.delete(GROUP, VERSION, "contactsyncs", optional=True)
async def contactsync_deleted(logger: Logger, **_: Any) -> None:
    """Deleting a sync stops it; members and CRM data stay where they are (C3, M12)."""
    logger.info("sync deleted; campaign members and CRM records are kept")
