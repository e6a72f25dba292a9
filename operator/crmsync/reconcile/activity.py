"""The campaign-activity pass of a ContactSync (Z16, C2, M10), after a successful run, for
Mailchimp audiences and Zoho Campaigns lists (links from the sync's record index); and of a
sent EmailCampaign (C2, :func:`email_campaign_activity`: its one campaign, Leads and
Contacts, status in ``status.activity``).

Its own failures never fail the sync run (or the EmailCampaign): they end as ``status.campaignActivity.outcome:
Failed`` with the message, a ``CampaignActivityFailed`` Warning Event and the
``crmsync_campaign_activity_passes_total{outcome="Failed"}`` counter; the next pass tries
again. A pass that wrote something posts one ``CampaignActivity`` Event summarising it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from crmsync import metrics
from crmsync.api.v1alpha1.activity import CampaignActivitySpec, CampaignActivityStatus
from crmsync.api.v1alpha1.connection import Provider
from crmsync.api.v1alpha1.contactsync import ContactSyncSpec
from crmsync.api.v1alpha1.emailcampaign import CampaignState, EmailCampaignSpec, EmailCampaignStatus
from crmsync.api.v1alpha1.status import RunOutcome
from crmsync.engine.activity import MEMBER_MODULES, email_campaign_pass_due, pass_due
from crmsync.engine.emailcampaign import EMAIL_FIELD
from crmsync.engine.settings import SyncSettings
from crmsync.providers.factory import open_crm, open_target
from crmsync.providers.http import CallStats, ProviderError
from crmsync.providers.mailchimp import Mailchimp
from crmsync.providers.zoho_campaigns import ZohoCampaigns
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.reconcile.resolve import ResolvedConnection
from crmsync.reconcile.usage import LEDGER
from crmsync.runtime.activity import ActivityRequest, ActivityResult, run_activity_pass
from crmsync.runtime.recordindex import RecordIndex

SYNC_NOW_ANNOTATION = "crmsync.dev/sync-now"
COMPLETED = frozenset({RunOutcome.SUCCEEDED, RunOutcome.PARTIAL})
"""Run outcomes after which a pass runs (the run's own checkpoint was committed)."""
EventPoster = Callable[[dict[str, Any], str, str, str], Awaitable[None]]
IndexLoader = Callable[[dict[str, Any]], Awaitable[RecordIndex]]
"""Reads the ContactSync's record index (``Module:recordId`` → email), for Zoho Campaigns."""


def links_from_index(entries: Mapping[str, str], module: str) -> dict[str, str]:
    """email → ``Module:recordId`` of the synced module, from the record index (Zoho
    Campaigns keeps the record id in a field v1.1 cannot read back)."""
    return {email: key for key, email in sorted(entries.items()) if key.startswith(f"{module}:")}


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
    record_index: IndexLoader | None = None,
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
    if target_conn.endpoint.provider not in (Provider.MAILCHIMP, Provider.ZOHO_CAMPAIGNS):
        await _failed(
            holder,
            event,
            body,
            previous,
            "campaign activity is brought back from Mailchimp audiences and Zoho Campaigns "
            "lists only",
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
    try:
        links = (
            links_from_index((await record_index(body)).entries, settings.module)
            if record_index is not None and target_conn.endpoint.provider == Provider.ZOHO_CAMPAIGNS
            else None
        )
        request = ActivityRequest(
            audience=spec.target.list_id or "",
            module=settings.module,
            email_field=settings.email_field,
            record_id_field=settings.record_id_field,
            spec=spec.campaign_activity,
            previous=previous,
            record_links=links,
        )
        async with (
            open_crm(crm_conn.endpoint, CallStats(observer=usage)) as crm,
            open_target(target_conn.endpoint, CallStats(observer=usage)) as target,
        ):
            if not isinstance(target, Mailchimp | ZohoCampaigns):
                raise ProviderError("campaign activity needs a Mailchimp or Zoho Campaigns target")
            result = await run_activity_pass(crm, target, request)
    except (ProviderError, httpx.HTTPError, OSError, ValueError, KeyError, TypeError) as exc:
        # ValueError/KeyError/TypeError: a vendor answer of an unexpected shape.
        await _failed(holder, event, body, previous, f"{type(exc).__name__}: {exc}")
        return
    await _record(holder, event, body, result)


async def _record(
    holder: StatusHolder,
    event: EventPoster,
    body: dict[str, Any],
    result: ActivityResult,
    where: StatusPlace | None = None,
) -> None:
    place = where or CONTACTSYNC_PLACE
    meta = body["metadata"]
    tally = result.tally
    metrics.record_campaign_activity(
        meta["namespace"],
        place.metric_name(meta["name"]),
        outcome=result.status.outcome,
        members={
            "updated": tally.members_updated,
            "failed": tally.members_failed,
            "unmatched": tally.members_unmatched,
        },
        campaigns={"created": tally.crm_created, "updated": tally.crm_updated},
    )
    await holder.patch_status(body, {place.key: result.status.to_wire(), **place.extra})
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
    where: StatusPlace | None = None,
) -> None:
    place = where or CONTACTSYNC_PLACE
    meta = body["metadata"]
    metrics.record_campaign_activity(
        meta["namespace"],
        place.metric_name(meta["name"]),
        outcome="Failed",
        members={},
        campaigns={},
    )
    status = (previous or CampaignActivityStatus()).model_copy(
        update={
            "last_pass_time": datetime.now(UTC),
            "outcome": "Failed",
            "message": message[:4000],
        }
    )
    await holder.patch_status(body, {place.key: status.to_wire(), **place.extra})
    await event(body, "Warning", "CampaignActivityFailed", f"CampaignActivity: {message}")


@dataclass(frozen=True)
class StatusPlace:
    """Where a kind keeps its activity status, and how its metrics series are named."""

    key: str
    metric_prefix: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """More status fields written with it (the sync-now value acted on)."""

    def metric_name(self, name: str) -> str:
        return f"{self.metric_prefix}{name}"


CONTACTSYNC_PLACE = StatusPlace("campaignActivity")
EMAILCAMPAIGN_METRIC_PREFIX = "EmailCampaign/"
"""The ``sync`` label of an EmailCampaign's activity series: its name after this prefix,
so it never adds to a ContactSync's of the same name."""


async def email_campaign_activity(
    holder: StatusHolder,
    event: EventPoster,
    spec: EmailCampaignSpec,
    campaigns: ZohoCampaigns,
    crm: ZohoCrm,
    *,
    periodic: bool,
) -> None:
    """An EmailCampaign's responses back into the CRM (C2), when sent and due: the same
    pass as a ContactSync's, for its one campaign and both recipient modules."""
    body = holder.snapshot()
    status = EmailCampaignStatus.model_validate(body.get("status") or {})
    if status.state != CampaignState.SENT or not status.campaign_key:
        return
    asked = str((body["metadata"].get("annotations") or {}).get(SYNC_NOW_ANNOTATION, ""))
    previous = status.activity
    last_pass = previous.last_pass_time if previous is not None else None
    requested = bool(asked) and asked != status.activity_requested
    now = datetime.now(UTC)
    if not email_campaign_pass_due(
        spec.activity, status.sent_time, last_pass, now, requested=requested, periodic=periodic
    ):
        return
    place = StatusPlace("activity", EMAILCAMPAIGN_METRIC_PREFIX, {"activityRequested": asked})
    modules = tuple(str(source.module) for source in spec.recipients.sources)
    request = ActivityRequest(
        audience=spec.target.list_key,
        module=modules[0],
        email_field=EMAIL_FIELD,
        record_id_field="",
        spec=CampaignActivitySpec(enabled=True, interval=spec.activity.interval),
        previous=previous,
        campaign_keys=(status.campaign_key,),
        modules=modules,
    )
    try:
        result = await run_activity_pass(crm, campaigns, request)
    except (ProviderError, httpx.HTTPError, OSError, ValueError, KeyError, TypeError) as exc:
        await _failed(holder, event, body, previous, f"{type(exc).__name__}: {exc}", place)
        return
    await _record(holder, event, body, result, place)
