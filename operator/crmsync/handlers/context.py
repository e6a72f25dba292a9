"""Process-wide operator state set at login: the Kubernetes client the reconcilers use."""

from __future__ import annotations

from crmsync.k8s.api import KubeApi
from crmsync.webhook import NotificationServer


class OperatorContext:
    kube: KubeApi | None = None
    webhook: NotificationServer | None = None
    """The notification endpoint (``crmsync run`` starts it; None elsewhere)."""


def kube() -> KubeApi:
    if OperatorContext.kube is None:
        raise RuntimeError("not logged in to Kubernetes yet")
    return OperatorContext.kube
