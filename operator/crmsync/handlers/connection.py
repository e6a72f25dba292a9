"""Connection handlers: verify on every change, and re-verify on a timer (rotation). The
timer of a zoho-campaigns Connection also carries the periodic campaign-activity passes of
the sent EmailCampaigns that use it (C2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import kopf

from crmsync.api.v1alpha1 import GROUP, VERSION
from crmsync.handlers.context import OperatorContext, kube
from crmsync.k8s.api import NotFoundError
from crmsync.k8s.conditions import condition_status
from crmsync.k8s.logs import Logger
from crmsync.k8s.watched import CONNECTIONS
from crmsync.reconcile.channels import sweep_channels
from crmsync.reconcile.connection import report_usage, verify_connection
from crmsync.reconcile.emailcampaign import sent_campaigns_activity
from crmsync.reconcile.waiting import connection_ready
from crmsync.sharding import LABELS

RECHECK_SECONDS = 30.0
REVERIFY_AFTER = timedelta(minutes=10)


@kopf.on.event(GROUP, VERSION, "connections")
async def connection_watched(event: kopf.RawEvent, **_: Any) -> None:
    """Every Connection, whatever its shard, for the syncs to read (:mod:`crmsync.k8s.watched`).
    Registered before connection_event: a loop it wakes finds the Ready Connection here."""
    CONNECTIONS.seen(event.get("type"), event["object"])


@kopf.on.resume(GROUP, VERSION, "connections", labels=LABELS)
@kopf.on.create(GROUP, VERSION, "connections", labels=LABELS)
@kopf.on.update(GROUP, VERSION, "connections", labels=LABELS, field="spec")
async def connection_changed(body: kopf.Body, logger: Logger, **_: Any) -> None:
    await verify_connection(kube(), dict(body), logger)


@kopf.on.event(GROUP, VERSION, "connections", labels=LABELS)
async def connection_event(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A Connection that becomes Ready wakes the loops of its namespace backing off
    because of a Connection (so a fixed Secret is used at once, not after the backoff)."""
    ready = condition_status((body.get("status") or {}).get("conditions"), "Ready") == "True"
    was_ready = getattr(memo, "connection_ready", None)
    memo.connection_ready = ready
    if ready and was_ready is not True:
        connection_ready(body["metadata"]["namespace"])


@kopf.timer(
    GROUP,
    VERSION,
    "connections",
    labels=LABELS,
    interval=RECHECK_SECONDS,
    initial_delay=RECHECK_SECONDS,
)
async def connection_recheck(body: kopf.Body, logger: Logger, **_: Any) -> None:
    """Re-verify when the Secret changed (credential rotation), when not Ready, or when stale.
    The read also refreshes the Secret the Connection's syncs are served from memory."""
    status = dict(body.get("status") or {})
    secret_name = body["spec"]["credentialsSecretRef"]["name"]
    try:
        _, version = await kube().secrets.refresh(body["metadata"]["namespace"], secret_name)
    except NotFoundError:
        version = ""
    verified = status.get("lastVerifiedTime")
    stale = not verified or datetime.fromisoformat(str(verified)) + REVERIFY_AFTER < datetime.now(
        UTC
    )
    rotated = version != status.get("credentialsVersion")
    not_ready = condition_status(status.get("conditions"), "Ready") != "True"
    if rotated or not_ready or stale:
        await verify_connection(kube(), dict(body), logger)
    await report_usage(kube(), dict(body))
    await sent_campaigns_activity(kube(), dict(body), logger)
    await sweep_channels(kube(), OperatorContext.webhook, dict(body), logger)
