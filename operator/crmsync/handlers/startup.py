"""Operator settings and login."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from crmsync.handlers.context import OperatorContext
from crmsync.k8s.api import KubeApi
from crmsync.sharding import Sharding, finalizer

PREFIX = "crmsync.dev"


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # kopf's own bookkeeping lives in annotations: our status schema is strict and
    # would prune a status.kopf field.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    # One finalizer per shard: kopf takes its finalizer off objects none of its handlers
    # match, so shards sharing one would remove and re-add it forever.
    settings.persistence.finalizer = finalizer(Sharding.shard)
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.networking.request_timeout = 60


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if info is not None:
        if OperatorContext.kube is not None:
            await OperatorContext.kube.aclose()
        OperatorContext.kube = KubeApi(info)
    return info


@kopf.on.cleanup()
async def close(**_: Any) -> None:
    if OperatorContext.kube is not None:
        await OperatorContext.kube.aclose()
        OperatorContext.kube = None
