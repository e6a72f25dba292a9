"""Operator settings and login."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from crmsync.handlers.context import OperatorContext
from crmsync.k8s.api import KubeApi

PREFIX = "crmsync.dev"


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # kopf's own bookkeeping lives in annotations: our status schema is strict and
    # would prune a status.kopf field.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
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
