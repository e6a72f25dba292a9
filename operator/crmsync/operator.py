"""``crmsync run``: the kopf operator process."""

from __future__ import annotations

import asyncio
import logging

import kopf


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
) -> int:
    import crmsync.handlers  # noqa: F401 - registers the handlers
    from crmsync import metrics
    from crmsync.handlers.context import OperatorContext
    from crmsync.webhook import NotificationServer

    kopf.configure(verbose=verbose)
    metrics.serve(metrics_port, metrics_address)
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)
    webhook = NotificationServer(port=webhook_port, public_url=webhook_url)
    OperatorContext.webhook = webhook

    async def run() -> None:
        # The webhook listens before kopf starts, so a channel subscribed by the first
        # reconcile pass already has somewhere to deliver.
        await webhook.start()
        try:
            await kopf.operator(
                clusterwide=not namespaces,
                namespaces=namespaces,
                liveness_endpoint=liveness,
                standalone=standalone,
            )
        finally:
            await webhook.stop()

    asyncio.run(run())
    return 0
