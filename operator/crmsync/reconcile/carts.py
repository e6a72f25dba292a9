"""The abandoned-cart pass of a ContactSync (M5), after a completed run, when
``spec.target.abandonedCarts`` asks for it and it is due.

Like the campaign-activity pass, its failures never fail the sync run: they end as
``status.abandonedCarts.outcome: Failed`` with the message and an ``AbandonedCartsFailed``
Warning Event; the next pass tries again. A pass that created Deals posts one
``AbandonedCarts`` Event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from crmsync import metrics
from crmsync.api.v1alpha1.carts import AbandonedCartsStatus
from crmsync.api.v1alpha1.connection import Provider
from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.engine.carts import pass_due
from crmsync.engine.settings import SyncSettings
from crmsync.providers.factory import open_crm, open_target
from crmsync.providers.http import CallStats, ProviderError
from crmsync.providers.mailchimp import Mailchimp
from crmsync.reconcile.activity import COMPLETED, EventPoster, StatusHolder
from crmsync.reconcile.resolve import ResolvedConnection
from crmsync.reconcile.usage import LEDGER
from crmsync.runtime.carts import run_cart_pass

KEY = "abandonedCarts"


async def abandoned_carts(
    holder: StatusHolder,
    event: EventPoster,
    spec: ContactSyncSpec,
    trigger: str,
    resolved: tuple[ResolvedConnection, ResolvedConnection, SyncSettings],
) -> None:
    """Run the pass when the spec asks for one and it is due; record what it did."""
    body = holder.snapshot()
    status = body.get("status") or {}
    if ((status.get("lastRun") or {}).get("outcome")) not in COMPLETED:
        return
    raw = status.get(KEY)
    previous = AbandonedCartsStatus.model_validate(raw) if raw else None
    now = datetime.now(UTC)
    carts = spec.target.abandoned_carts
    if not pass_due(carts, trigger, previous.last_pass_time if previous else None, now):
        return
    assert carts is not None
    crm_conn, target_conn, _ = resolved
    if target_conn.endpoint.provider != Provider.MAILCHIMP:
        await _failed(holder, event, body, previous, "abandoned carts are read from Mailchimp only")
        return
    namespace = body["metadata"]["namespace"]
    usage = LEDGER.observer(
        {
            crm_conn.endpoint.provider: (namespace, spec.crm.connection_ref.name),
            target_conn.endpoint.provider: (namespace, spec.target.connection_ref.name),
        },
        metrics.API_OBSERVER,
    )
    try:
        async with (
            open_crm(crm_conn.endpoint, CallStats(observer=usage)) as crm,
            open_target(target_conn.endpoint, CallStats(observer=usage)) as target,
        ):
            if not isinstance(target, Mailchimp):
                raise ProviderError("abandoned carts need a Mailchimp Connection")
            result = await run_cart_pass(crm, target, carts, previous, now)
    except (ProviderError, httpx.HTTPError, OSError, ValueError, KeyError, TypeError) as exc:
        # ValueError/KeyError/TypeError: a vendor answer of an unexpected shape.
        await _failed(holder, event, body, previous, f"{type(exc).__name__}: {exc}")
        return
    ended = result.status.model_copy(update={"last_pass_time": datetime.now(UTC)})
    await holder.patch_status(body, {KEY: _wire(ended, previous)})
    if result.created:
        await event(body, "Normal", "AbandonedCarts", f"AbandonedCarts: {result.status.message}")


def _wire(status: AbandonedCartsStatus, previous: AbandonedCartsStatus | None) -> dict[str, Any]:
    """The status as a merge patch: reasons no longer skipped are removed (null)."""
    wire = status.to_wire()
    gone = set(previous.skipped) - set(status.skipped) if previous is not None else set()
    wire["skipped"] = {**wire.get("skipped", {}), **dict.fromkeys(gone)}
    return wire


async def _failed(
    holder: StatusHolder,
    event: EventPoster,
    body: dict[str, Any],
    previous: AbandonedCartsStatus | None,
    message: str,
) -> None:
    status = (previous or AbandonedCartsStatus()).model_copy(
        update={"last_pass_time": datetime.now(UTC), "outcome": "Failed", "message": message[:4000]}
    )
    await holder.patch_status(body, {KEY: _wire(status, previous)})
    await event(body, "Warning", "AbandonedCartsFailed", f"AbandonedCarts: {message}")
