"""The campaign-activity pass of a ContactSync (Z16, C2, M10), after a successful run.

Its own failures never fail the sync run: they end as ``status.campaignActivity.outcome:
Failed`` with the message, a ``CampaignActivityFailed`` Warning Event and the
``crmsync_campaign_activity_passes_total{outcome="Failed"}`` counter; the next pass tries
again. A pass that wrote something posts one ``CampaignActivity`` Event summarising it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from crmsync import metrics
from crmsync.api.v1alpha1.activity import CampaignActivityStatus
from crmsync.api.v1alpha1.connection import Provider
from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.api.v1alpha1.status import RunOutcome
from crmsync.engine.activity import MEMBER_MODULES, pass_due
from crmsync.engine.settings import SyncSettings
from crmsync.providers.factory import open_crm, open_target
from crmsync.providers.http import CallStats, ProviderError
from crmsync.providers.mailchimp import Mailchimp
from crmsync.reconcile.resolve import ResolvedConnection
from crmsync.reconcile.usage import LEDGER
from crmsync.runtime.activity import ActivityRequest, ActivityResult, run_activity_pass

COMPLETED = frozenset({RunOutcome.SUCCEEDED, RunOutcome.PARTIAL})
"""Run outcomes after which a pass runs (the run's own checkpoint was committed)."""
EventPoster = Callable[[dict[str, Any], str, str, str], Awaitable[None]]


class StatusHolder(Protocol):
    def snapshot(self) -> dict[str, Any]: ...

    async def patch_status(self, body: dict[str, Any], patch: dict[str, Any]) -> None: ...


async def campaign_activity(
    holder: StatusHolder,
    event: EventPoster,
    spec: ContactSyncSpec,
    trigger: str,
    resolved: tuple[ResolvedConnection, ResolvedConnection, SyncSettings],
    *,
    campaign_sent: bool = False,
) -> None:
    """Run the pass when the spec asks for one and it is due; record what it did."""
    body = holder.snapshot()
    last_run = (body.get("status") or {}).get("lastRun") or {}
    if last_run.get("outcome") not in COMPLETED:
        return
    raw = (body.get("status") or {}).get("campaignActivity")
    previous = CampaignActivityStatus.model_validate(raw) if raw else None
    now = datetime.now(UTC)
    last_pass = previous.last_pass_time if previous is not None else None
    if not pass_due(spec.campaign_activity, trigger, last_pass, now, campaign_sent=campaign_sent):
        return
    assert spec.campaign_activity is not None
    crm_conn, target_conn, settings = resolved
    meta = body["metadata"]
    namespace = meta["namespace"]
    if target_conn.endpoint.provider != Provider.MAILCHIMP:
        await _failed(
            holder,
            event,
            body,
            previous,
            "campaign activity is brought back from Mailchimp audiences only",
        )
        return
    if settings.module not in MEMBER_MODULES:
        await _failed(
            holder,
            event,
            body,
            previous,
            f"campaign membership exists for {' and '.join(MEMBER_MODULES)} only, "
            f"not {settings.module}",
        )
        return
    usage = LEDGER.observer(
        {
            crm_conn.endpoint.provider: (namespace, spec.crm.connection_ref.name),
            target_conn.endpoint.provider: (namespace, spec.target.connection_ref.name),
        },
        metrics.API_OBSERVER,
    )
    request = ActivityRequest(
        audience=spec.target.list_id or "",
        module=settings.module,
        email_field=settings.email_field,
        record_id_field=settings.record_id_field,
        spec=spec.campaign_activity,
        previous=previous,
    )
    try:
        async with (
            open_crm(crm_conn.endpoint, CallStats(observer=usage)) as crm,
            open_target(target_conn.endpoint, CallStats(observer=usage)) as target,
        ):
            if not isinstance(target, Mailchimp):
                raise ProviderError("campaign activity needs a Mailchimp audience")
            result = await run_activity_pass(crm, target, request)
    except (ProviderError, httpx.HTTPError, OSError, ValueError, KeyError, TypeError) as exc:
        # ValueError/KeyError/TypeError: a vendor answer of an unexpected shape.
        await _failed(holder, event, body, previous, f"{type(exc).__name__}: {exc}")
        return
    await _record(holder, event, body, result)


async def _record(
    holder: StatusHolder, event: EventPoster, body: dict[str, Any], result: ActivityResult
) -> None:
    meta = body["metadata"]
    tally = result.tally
    metrics.record_campaign_activity(
        meta["namespace"],
        meta["name"],
        outcome=result.status.outcome,
        members={
            "updated": tally.members_updated,
            "failed": tally.members_failed,
            "unmatched": tally.members_unmatched,
        },
        campaigns={"created": tally.crm_created, "updated": tally.crm_updated},
    )
    await holder.patch_status(body, {"campaignActivity": result.status.to_wire()})
    message = f"CampaignActivity: {tally.message()}"
    if tally.errors:
        await event(body, "Warning", "CampaignActivityFailed", message)
    elif tally.members_updated or tally.crm_created or tally.crm_updated or tally.members_failed:
        await event(body, "Normal", "CampaignActivity", message)


async def _failed(
    holder: StatusHolder,
    event: EventPoster,
    body: dict[str, Any],
    previous: CampaignActivityStatus | None,
    message: str,
) -> None:
    meta = body["metadata"]
    metrics.record_campaign_activity(
        meta["namespace"], meta["name"], outcome="Failed", members={}, campaigns={}
    )
    status = (previous or CampaignActivityStatus()).model_copy(
        update={
            "last_pass_time": datetime.now(UTC),
            "outcome": "Failed",
            "message": message[:4000],
        }
    )
    await holder.patch_status(body, {"campaignActivity": status.to_wire()})
    await event(body, "Warning", "CampaignActivityFailed", f"CampaignActivity: {message}")
