"""MailboxSync handlers: one capture loop per object, woken by changes."""

from __future__ import annotations

from typing import Any

import kopf

from crmsync.api.v1alpha1 import GROUP, VERSION
from crmsync.handlers.context import kube
from crmsync.k8s.logs import Logger
from crmsync.reconcile.mailbox import MailboxReconciler, MailboxSignals
from crmsync.sharding import LABELS


def signals_of(memo: Any) -> MailboxSignals:
    signals = getattr(memo, "mailbox_signals", None)
    if not isinstance(signals, MailboxSignals):
        signals = MailboxSignals()
        memo.mailbox_signals = signals
    return signals


@kopf.daemon(GROUP, VERSION, "mailboxsyncs", labels=LABELS, cancellation_timeout=30.0)
async def mailboxsync_loop(
    body: kopf.Body, memo: kopf.Memo, logger: Logger, stopped: kopf.DaemonStopped, **_: Any
) -> None:
    await MailboxReconciler(kube(), body, logger, signals_of(memo)).run_forever(stopped)


@kopf.on.update(GROUP, VERSION, "mailboxsyncs", labels=LABELS)
async def mailboxsync_changed(memo: kopf.Memo, **_: Any) -> None:
    """A spec, label or annotation change: look again now."""
    signals_of(memo).wake.set()


@kopf.on.delete(GROUP, VERSION, "mailboxsyncs", labels=LABELS, optional=True)
async def mailboxsync_deleted(logger: Logger, **_: Any) -> None:
    """Deleting a MailboxSync stops capture; captured Notes stay on the CRM records."""
    logger.info("mailbox sync deleted; captured mail stays in the CRM")
