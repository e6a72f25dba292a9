"""ContactSync handlers: one reconcile loop per object, woken by changes."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf

from crmsync.api.v1alpha1 import GROUP, VERSION
from crmsync.handlers.context import OperatorContext, kube
from crmsync.k8s.logs import Logger
from crmsync.reconcile.audiencehook import drop_audience_hook
from crmsync.reconcile.channels import drop_sync_channel
from crmsync.reconcile.contactsync import (
    SYNC_NOW_ANNOTATION,
    ContactSyncReconciler,
    SyncSignals,
)
from crmsync.reconcile.handoff import release
from crmsync.reconcile.ownership import drop_claims
from crmsync.sharding import LABELS


def signals_of(memo: Any) -> SyncSignals:
    """The object's signals, created on first use (kopf gives each object its own memo)."""
    signals = getattr(memo, "signals", None)
    if not isinstance(signals, SyncSignals):
        signals = SyncSignals()
        memo.signals = signals
    return signals


@kopf.daemon(GROUP, VERSION, "contactsyncs", labels=LABELS, cancellation_timeout=30.0)
async def contactsync_loop(
    body: kopf.Body, memo: kopf.Memo, logger: Logger, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    reconciler = ContactSyncReconciler(
        kube(), body, logger, signals_of(memo), webhook=OperatorContext.webhook
    )
    try:
        await reconciler.run_forever(stopped)
    except asyncio.CancelledError:
        # kopf cancels the daemon of a sync relabelled to another shard at once: a run
        # in progress is closed as Interrupted, so that shard resumes it without waiting.
        await asyncio.shield(release(reconciler))
        raise


@kopf.on.update(GROUP, VERSION, "contactsyncs", labels=LABELS)
async def contactsync_changed(memo: kopf.Memo, **_: Any) -> None:
    """A spec, label or annotation change (e.g. crmsync.dev/sync-now): look again now.
    Deliveries wake the sync until it has resolved the new spec."""
    signals = signals_of(memo)
    signals.screen = None
    signals.wake.set()


@kopf.on.event(GROUP, VERSION, "contactsyncs", labels=LABELS)
async def contactsync_sync_now(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A pending ``crmsync.dev/sync-now``: wake the loop. kopf leaves every ``crmsync.dev/``
    annotation out of its diff (its own storage uses that prefix), so on.update above never
    sees this one change."""
    wanted = body.metadata.annotations.get(SYNC_NOW_ANNOTATION, "")
    if wanted and wanted != (body.get("status") or {}).get("lastHandledSyncNow", ""):
        signals_of(memo).wake.set()


@kopf.on.delete(GROUP, VERSION, "contactsyncs", labels=LABELS, optional=True)
async def contactsync_deleted(body: kopf.Body, logger: Logger, **_: Any) -> None:
    """Deleting a sync stops it; members and CRM data stay where they are (C3, M12).
    Its CRM notification channel and its audience webhook are removed (best effort: the
    channel expires anyway, and deliveries for a gone sync are refused)."""
    await drop_sync_channel(kube(), OperatorContext.webhook, dict(body), logger)
    await drop_audience_hook(kube(), OperatorContext.webhook, dict(body), logger)
    await drop_claims(kube(), dict(body), logger)
    logger.info("sync deleted; campaign members and CRM records are kept")
