"""EmailCampaign handlers: event handlers only (no daemon), so no finalizer (C3).

Each create, spec change and operator start runs one pass; a pass that could not finish
(a Connection not Ready yet, a vendor error) is retried by kopf. Deleting an
EmailCampaign unlinks it: nothing is deleted in Zoho Campaigns or the CRM, so there is no
delete handler and nothing blocks ``kubectl delete``.
"""

from __future__ import annotations

import random
from typing import Any

import kopf

from crmsync.api.v1alpha1 import GROUP, VERSION
from crmsync.engine.backoff import retry_delay
from crmsync.handlers.context import kube
from crmsync.k8s.logs import Logger
from crmsync.reconcile.activity import SYNC_NOW_ANNOTATION
from crmsync.reconcile.emailcampaign import EmailCampaignReconciler
from crmsync.sharding import LABELS

RETRY_BACKOFF = 5.0


async def _pass(body: kopf.Body, logger: Logger, retry: int) -> None:
    delay = await EmailCampaignReconciler(kube(), body, logger).reconcile()
    if delay is not None:
        # Retried later each time it fails again (kopf counts the retries), with jitter.
        wait = max(delay, retry_delay(retry + 1, random.random()).total_seconds())
        raise kopf.TemporaryError("not finished; see status.conditions", delay=wait)


@kopf.on.create(GROUP, VERSION, "emailcampaigns", labels=LABELS, backoff=RETRY_BACKOFF)
async def emailcampaign_created(body: kopf.Body, logger: Logger, retry: int, **_: Any) -> None:
    await _pass(body, logger, retry)


@kopf.on.update(GROUP, VERSION, "emailcampaigns", labels=LABELS, backoff=RETRY_BACKOFF)
async def emailcampaign_changed(body: kopf.Body, logger: Logger, retry: int, **_: Any) -> None:
    """A spec change (spec.action moved on, recipients edited, test emails added)."""
    await _pass(body, logger, retry)


@kopf.on.resume(GROUP, VERSION, "emailcampaigns", labels=LABELS, backoff=RETRY_BACKOFF)
async def emailcampaign_resumed(body: kopf.Body, logger: Logger, retry: int, **_: Any) -> None:
    """Operator start: finish what an interrupted pass left (never creating or sending twice)."""
    await _pass(body, logger, retry)


@kopf.on.event(GROUP, VERSION, "emailcampaigns", labels=LABELS)
async def emailcampaign_sync_now(body: kopf.Body, logger: Logger, **_: Any) -> None:
    """A pending ``crmsync.dev/sync-now`` on a sent campaign: its activity pass now (C2).
    kopf leaves every ``crmsync.dev/`` annotation out of its diff (its own storage uses
    that prefix), so on.update never sees this change. Not retried: the Connection's
    timer also acts on a pending request."""
    wanted = body.metadata.annotations.get(SYNC_NOW_ANNOTATION, "")
    status = body.get("status") or {}
    if wanted and wanted != status.get("activityRequested", "") and status.get("state") == "Sent":
        await EmailCampaignReconciler(kube(), body, logger).activity_pass()
