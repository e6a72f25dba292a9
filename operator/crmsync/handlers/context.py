"""Process-wide operator state set at login: the Kubernetes client the reconcilers use."""

from __future__ import annotations

from crmsync.k8s.api import KubeApi


class OperatorContext:
    kube: KubeApi | None = None


def kube() -> KubeApi:
    if OperatorContext.kube is None:
        raise RuntimeError("not logged in to Kubernetes yet")
    return OperatorContext.kube
