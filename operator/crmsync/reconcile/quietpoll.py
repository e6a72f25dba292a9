"""Quiet polls of a ContactSync: the shared probes read, and whether the due run is needed.

The rules are :mod:`crmsync.engine.quiet`'s; this module reads the answers they need through
each Connection's shared probes (:mod:`crmsync.providers.changeprobe`): the CRM module's
newest modification and deletion, and for what a run reads on the campaign side, the
audience's newest member change (two-way) or newest unsubscribe / clean (Z17). Calls count
against the Connections' daily usage like a run's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from crmsync import metrics
from crmsync.api.v1alpha1.connection import Provider
from crmsync.api.v1alpha1.status import Checkpoint
from crmsync.engine.quiet import (
    OPT_OUT_STATUSES,
    PROBE_ROWS,
    Newest,
    ProbeNeeds,
    changed_records,
    is_quiet,
)
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


CrmAnswer = tuple[tuple[tuple[str, datetime], ...], datetime | None]


async def _crm_newest(endpoint: Endpoint, module: str) -> tuple[CrmAnswer, datetime]:
    async def read() -> CrmAnswer:
        metrics.CHANGE_PROBES.labels(endpoint.provider).inc()
        async with open_crm(endpoint, _stats(endpoint)) as crm:
            recent, deleted = await asyncio.gather(
                crm.newest_changes(module, PROBE_ROWS), crm.newest_deletion(module)
            )
        return tuple(recent), deleted

    return await _probes(endpoint).ask(("crm", module), read)


async def _campaign_newest(
    endpoint: Endpoint, audience: str, statuses: tuple[str | None, ...]
) -> tuple[tuple[datetime | None, ...], datetime]:
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
    (crm_answer, crm_read), (campaign_answer, campaign_read) = await asyncio.gather(
        _crm_newest(crm, needs.module),
        _campaign_newest(target, audience, campaign) if campaign else _nothing(),
    )
    recent, deleted = crm_answer
    return Newest(
        modified=recent[0][1] if recent else None,
        deleted=deleted,
        campaign_any=campaign_answer[0] if needs.campaign_any else None,
        campaign_statuses=campaign_answer[1:] if needs.campaign_any else campaign_answer,
        recent=recent,
        complete=len(recent) < PROBE_ROWS,
        read_at=min(crm_read, campaign_read),
    )


async def _nothing() -> tuple[tuple[datetime | None, ...], datetime]:
    return (), datetime.now(UTC)


@dataclass(frozen=True)
class Verdict:
    quiet: bool
    changed: list[str] | None = None
    """Not quiet only because these CRM records were modified (route them); None: run."""
    read_at: datetime | None = None
    """When the answers were read (the earliest): every change before it is in them."""


async def poll_verdict(
    needs: ProbeNeeds,
    crm: Endpoint,
    target: Endpoint,
    audience: str,
    checkpoint: Checkpoint,
    watermark: datetime | None,
) -> Verdict:
    """Whether the due poll may skip its run, or which records it would be for; a failed
    probe says run (as before)."""
    try:
        newest = await newest_changes(needs, crm, target, audience)
    except (ProbeError, ProviderError, httpx.HTTPError, OSError, ValueError, KeyError):
        metrics.QUIET_POLLS.labels("failed").inc()
        return Verdict(quiet=False)
    if is_quiet(needs, newest, checkpoint, watermark):
        metrics.QUIET_POLLS.labels("quiet").inc()
        return Verdict(quiet=True, read_at=newest.read_at)
    changed = changed_records(needs, newest, checkpoint, watermark)
    return Verdict(quiet=False, changed=changed, read_at=newest.read_at)
