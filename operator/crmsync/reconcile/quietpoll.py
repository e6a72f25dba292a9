"""Quiet polls of a ContactSync: the shared probes read, and whether the due run is needed.

The rules are :mod:`crmsync.engine.quiet`'s; this module reads the answers they need through
each Connection's shared probes (:mod:`crmsync.providers.changeprobe`): the CRM module's
newest modification and deletion, and for what a run reads on the campaign side, the
audience's newest member change (two-way) or newest unsubscribe / clean (Z17). Calls count
against the Connections' daily usage like a run's.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx

from crmsync import metrics
from crmsync.api.v1alpha1.connection import Provider
from crmsync.api.v1alpha1.status import Checkpoint
from crmsync.engine.quiet import OPT_OUT_STATUSES, Newest, ProbeNeeds, is_quiet
from crmsync.engine.settings import SyncSettings
from crmsync.providers.changeprobe import ChangeProbes, ProbeError, probes_of
from crmsync.providers.factory import Endpoint, open_crm, open_target
from crmsync.providers.http import CallStats, ProviderError
from crmsync.providers.mailchimp import Mailchimp
from crmsync.reconcile.usage import LEDGER


def probe_needs(settings: SyncSettings, target_provider: str) -> ProbeNeeds | None:
    """The probes that judge a poll of this sync; None when none can (a campaign-side read
    on a platform without them)."""
    mailchimp = target_provider == Provider.MAILCHIMP
    if settings.campaign_to_crm and not mailchimp:
        return None
    statuses: tuple[str, ...] = ()
    if settings.mirror_campaign_unsubscribes and mailchimp:
        statuses = tuple(str(s) for s in OPT_OUT_STATUSES if settings.campaign_opts_out(s))
    return ProbeNeeds(settings.module, settings.campaign_to_crm, statuses)


def _probes(endpoint: Endpoint) -> ChangeProbes:
    identity = sorted(f"{k}={v}" for k, v in endpoint.credentials.items())
    return probes_of(endpoint.connection, endpoint.provider, endpoint.api_base_url or "", *identity)


def _stats(endpoint: Endpoint) -> CallStats:
    namespace, _, name = endpoint.connection.partition("/")
    ledger = LEDGER.observer({endpoint.provider: (namespace, name)}, metrics.API_OBSERVER)
    return CallStats(observer=ledger)


async def _crm_newest(endpoint: Endpoint, module: str) -> tuple[datetime | None, datetime | None]:
    async def read() -> tuple[datetime | None, datetime | None]:
        metrics.CHANGE_PROBES.labels(endpoint.provider).inc()
        async with open_crm(endpoint, _stats(endpoint)) as crm:
            modified, deleted = await asyncio.gather(
                crm.newest_change(module), crm.newest_deletion(module)
            )
        return modified, deleted

    return await _probes(endpoint).ask(("crm", module), read)


async def _campaign_newest(
    endpoint: Endpoint, audience: str, statuses: tuple[str | None, ...]
) -> tuple[datetime | None, ...]:
    async def read() -> tuple[datetime | None, ...]:
        metrics.CHANGE_PROBES.labels(endpoint.provider).inc()
        async with open_target(endpoint, _stats(endpoint)) as target:
            if not isinstance(target, Mailchimp):
                raise ProviderError("campaign-side probes need a Mailchimp Connection")
            return tuple(
                await asyncio.gather(*(target.newest_member_change(audience, s) for s in statuses))
            )

    return await _probes(endpoint).ask(("members", audience, statuses), read)


async def newest_changes(
    needs: ProbeNeeds, crm: Endpoint, target: Endpoint, audience: str
) -> Newest:
    """The probes' answers (shared with every other sync asking about the same)."""
    campaign: tuple[str | None, ...] = (
        (None,) if needs.campaign_any else ()
    ) + needs.campaign_statuses
    crm_answer, campaign_answer = await asyncio.gather(
        _crm_newest(crm, needs.module),
        _campaign_newest(target, audience, campaign) if campaign else _nothing(),
    )
    return Newest(
        modified=crm_answer[0],
        deleted=crm_answer[1],
        campaign_any=campaign_answer[0] if needs.campaign_any else None,
        campaign_statuses=campaign_answer[1:] if needs.campaign_any else campaign_answer,
    )


async def _nothing() -> tuple[datetime | None, ...]:
    return ()


async def poll_is_quiet(
    needs: ProbeNeeds,
    crm: Endpoint,
    target: Endpoint,
    audience: str,
    checkpoint: Checkpoint,
    watermark: datetime | None,
) -> bool:
    """Whether the due poll may skip its run; a failed probe says no (the run as before)."""
    try:
        newest = await newest_changes(needs, crm, target, audience)
    except (ProbeError, ProviderError, httpx.HTTPError, OSError, ValueError, KeyError):
        metrics.QUIET_POLLS.labels("failed").inc()
        return False
    quiet = is_quiet(needs, newest, checkpoint, watermark)
    metrics.QUIET_POLLS.labels("quiet" if quiet else "changed").inc()
    return quiet
