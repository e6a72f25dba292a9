"""``crmsync run``: the kopf operator process."""

from __future__ import annotations

import asyncio
import logging
import random
import re

import httpx
import kopf

PEERING_LIFETIME = 15
"""Seconds a replica's keep-alive counts: a killed active replica is taken over by a standby
within about this long (kopf refreshes it every lifetime - 5..10 s)."""


def main_run(
    *,
    namespaces: list[str],
    verbose: bool,
    liveness: str | None,
    standalone: bool,
    webhook_port: int = 8443,
    webhook_url: str = "",
    metrics_port: int = 9090,
    metrics_address: str = "0.0.0.0",
    peering: str | None = None,
    priority: int | None = None,
    shard: str = "",
) -> int:
    from crmsync import memprofile

    memprofile.start_from_env()  # before the imports whose allocations it should see
    import crmsync.handlers  # noqa: F401 - registers the handlers
    from crmsync import metrics, sharding
    from crmsync.handlers.context import OperatorContext
    from crmsync.memtrim import trim_forever
    from crmsync.reconcile.screening import DeliveryScreen
    from crmsync.webhook import NotificationServer

    # Object logs carry their [namespace/name]: several syncs share one log.
    kopf.configure(verbose=verbose, log_prefix=True)
    metrics.serve(metrics_port, metrics_address)
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    webhook = NotificationServer(
        port=webhook_port, public_url=webhook_url, dispatcher=DeliveryScreen()
    )
    OperatorContext.webhook = webhook
    sharding.Sharding.shard = sharding.validate(shard) if shard else ""
    # Replicas of one shard elect one leader; shards never pause each other.
    peering = peering or sharding.peering(sharding.Sharding.shard)
    logging.getLogger("crmsync.sharding").info(
        "handling the objects of %s", sharding.describe(sharding.Sharding.shard)
    )
    settings = kopf.OperatorSettings()
    settings.peering.lifetime = PEERING_LIFETIME
    if priority is None:
        # kopf pauses every operator of the same priority, so replicas of one Deployment
        # (same arguments) each draw their own: the highest one reconciles.
        priority = random.randint(1, 1_000_000)

    async def run() -> None:
        # The webhook listens before kopf starts, so a channel subscribed by the first
        # reconcile pass already has somewhere to deliver.
        await webhook.start()
        trimming = asyncio.create_task(trim_forever())
        try:
            if not standalone:
                await ensure_peering(peering, namespaces, settings)
            await kopf.operator(
                clusterwide=not namespaces,
                namespaces=namespaces,
                liveness_endpoint=liveness,
                standalone=standalone,
                settings=settings,
                peering_name=None if standalone else peering,
                priority=priority,
            )
        finally:
            trimming.cancel()
            await webhook.stop()

    asyncio.run(run())
    return 0


async def ensure_peering(name: str, namespaces: list[str], settings: kopf.OperatorSettings) -> None:
    """The peering object kopf's mandatory peering waits for: a ClusterKopfPeering for a
    cluster-wide operator, a KopfPeering in each watched namespace otherwise (namespace
    patterns are left to whoever creates their namespaces)."""
    from crmsync.k8s.api import KubeApi

    log = logging.getLogger("crmsync.peering")
    info = kopf.login_with_service_account(
        settings=settings, logger=log
    ) or kopf.login_with_kubeconfig(settings=settings, logger=log)
    if info is None:
        return  # kopf's own login reports it
    api = KubeApi(info)
    try:
        literal = [n for n in namespaces if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", n)]
        for namespace in literal if namespaces else [""]:
            where = f"in {namespace!r}" if namespace else "cluster-wide"
            try:
                if await api.ensure_peering(name, namespace):
                    log.info("created the kopf peering %r %s", name, where)
            except httpx.HTTPStatusError as exc:
                # kopf stays paused until the peering exists: say why.
                log.error(
                    "peering %r %s not ensured (%s): install manifests/peering.yaml "
                    "or run with --standalone",
                    name,
                    where,
                    exc.response.status_code,
                )
    finally:
        await api.aclose()
